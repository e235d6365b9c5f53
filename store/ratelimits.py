"""Rate limits shared by every API replica: one row per bucket in PostgreSQL, GCRA in one
statement.

The generic cell rate algorithm keeps a single timestamp per bucket, the theoretical arrival time
(TAT). A request is allowed when `max(tat, now) + interval - now <= burst * interval`, and then
moves the TAT on by one interval. The upsert below does the test and the move atomically, so two
replicas racing for the last slot cannot both win. A refused request changes nothing and learns
exactly how long to wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from store.tenancy import bound_workspace

_TAKE = sa.text("""
INSERT INTO rate_limit_buckets (workspace_id, bucket, tat)
VALUES (:workspace_id, :bucket, :now + :interval)
ON CONFLICT (workspace_id, bucket) DO UPDATE
   SET tat = greatest(rate_limit_buckets.tat, :now) + :interval, updated_at = :now
 WHERE greatest(rate_limit_buckets.tat, :now) + :interval - :now <= :window
RETURNING tat
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("interval", type_=sa.Interval()),
                sa.bindparam("window", type_=sa.Interval()))
_TAT = sa.text("SELECT tat FROM rate_limit_buckets WHERE workspace_id = :workspace_id "
               "AND bucket = :bucket")


@dataclass(frozen=True)
class Limit:
    """`per_minute` requests a minute on average, up to `burst` at once."""

    per_minute: int
    burst: int

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=1) / self.per_minute


async def take(session: AsyncSession, bucket: str, limit: Limit, now: datetime) -> float | None:
    """Spend one request from `bucket`: None when allowed, else the seconds to wait."""
    workspace_id = bound_workspace(session)
    window = limit.interval * limit.burst
    params = {"workspace_id": workspace_id, "bucket": bucket, "now": now,
              "interval": limit.interval, "window": window}
    if (await session.execute(_TAKE, params)).first() is not None:
        return None
    tat = await session.scalar(_TAT, params)
    wait = (tat + limit.interval - window - now).total_seconds() if tat else 1.0
    return max(wait, 0.001)
