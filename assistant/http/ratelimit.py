"""Per-user and per-workspace request limits, shared by every replica through PostgreSQL.

Each authenticated request spends one unit from the user's bucket, then from the workspace's
(whose rate follows its subscription tier). Both are spent in one transaction: when the
workspace is out, the user's unit is given back by the rollback. A refusal is a 429 problem with
`Retry-After`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.http.auth import Principal
from assistant.http.problems import Problem
from assistant.http.settings import DEFAULT_TIER_LIMITS, ApiSettings
from store.ratelimits import Limit, take
from store.tenancy import scoped_session


class _Refused(Exception):
    def __init__(self, who: str, wait: float) -> None:
        self.who, self.wait = who, wait


class Limiter:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: ApiSettings,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.sessions, self.settings, self.clock = sessions, settings, clock

    def limits(self, principal: Principal) -> tuple[Limit, Limit]:
        tier = principal.tier
        per_minute = self.settings.rate_limits.get(tier, DEFAULT_TIER_LIMITS[tier])
        return self._limit(self.settings.user_rate_limit), self._limit(per_minute)

    def _limit(self, per_minute: int) -> Limit:
        burst = max(5, math.ceil(per_minute * self.settings.rate_burst_seconds / 60))
        return Limit(per_minute=per_minute, burst=burst)

    async def spend(self, principal: Principal) -> None:
        """Spend one request for the caller, or raise a 429 problem."""
        user_limit, workspace_limit = self.limits(principal)
        now = self.clock() if self.clock else None  # None: the database's clock
        try:
            async with scoped_session(self.sessions, principal.caller.scope) as session:
                wait = await take(session, f"user:{principal.caller.user_id}", user_limit, now)
                if wait is not None:
                    raise _Refused("you are", wait)
                wait = await take(session, "workspace", workspace_limit, now)
                if wait is not None:
                    raise _Refused("this workspace is", wait)
        except _Refused as refused:
            seconds = max(1, math.ceil(refused.wait))
            raise Problem(429, "Too Many Requests",
                          f"{refused.who} sending requests too fast; retry in {seconds} s",
                          kind="rate-limited", headers={"Retry-After": str(seconds)}) from None
