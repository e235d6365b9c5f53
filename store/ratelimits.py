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

# `:now` NULL means the database's clock: every replica then shares one clock, and time spent
# waiting for a connection is not mistaken for time the bucket has had to refill.
_NOW = "coalesce(CAST(:now AS timestamptz), clock_timestamp())"
_TAKE = sa.text(f"""
WITH t AS (SELECT {_NOW} AS now)
INSERT INTO rate_limit_buckets (workspace_id, bucket, tat)
SELECT :workspace_id, :bucket, t.now + :interval FROM t
ON CONFLICT (workspace_id, bucket) DO UPDATE
   SET tat = greatest(rate_limit_buckets.tat, (SELECT now FROM t)) + :interval,
       updated_at = (SELECT now FROM t)
 WHERE greatest(rate_limit_buckets.tat, (SELECT now FROM t)) + :interval - (SELECT now FROM t)
       <= :window
RETURNING tat
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("interval", type_=sa.Interval()),
                sa.bindparam("window", type_=sa.Interval()))
_WAIT = sa.text(f"""
SELECT extract(epoch FROM tat + :interval - :window - {_NOW}) FROM rate_limit_buckets
 WHERE workspace_id = :workspace_id AND bucket = :bucket
""").bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True)),
                sa.bindparam("interval", type_=sa.Interval()),
                sa.bindparam("window", type_=sa.Interval()))


@dataclass(frozen=True)
class Limit:
    """`per_minute` requests a minute on average, up to `burst` at once."""

    per_minute: int
    burst: int

    @property
    def interval(self) -> timedelta:
        return timedelta(minutes=1) / self.per_minute


async def take(session: AsyncSession, bucket: str, limit: Limit,
               now: datetime | None = None) -> float | None:
    """Spend one request from `bucket`: None when allowed, else the seconds to wait. `now`
    defaults to the database's clock."""
    params = {"workspace_id": bound_workspace(session), "bucket": bucket, "now": now,
              "interval": limit.interval, "window": limit.interval * limit.burst}
    if (await session.execute(_TAKE, params)).first() is not None:
        return None
    wait = await session.scalar(_WAIT, params)
    return max(float(wait or 0), 0.001)
