"""When the insight detectors last ran for a workspace (`insight_sweeps`, one row each).

The worker asks `neptune_due_insight_sweeps` which workspaces are due; a sweep first records
that it started (`started`), so a deal changed while it runs makes the workspace due again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.models.ai import InsightSweep
from store.models.base import JSON
from store.repositories.ai import ScopedRepository, execute_translated


class InsightSweepRepository(ScopedRepository[InsightSweep]):
    model = InsightSweep

    async def current(self) -> InsightSweep | None:
        return await self._first()

    async def started(self, swept_at: datetime) -> InsightSweep:
        """Record that a sweep starts: `swept_at` on the worker's clock (compared with the
        interval), `actions_until` on the database's (compared with action-history rows)."""
        values: dict[str, Any] = {"swept_at": swept_at}
        insert = pg_insert(InsightSweep).values(
            workspace_id=self.scope.workspace_id, id=uuid.uuid4(), swept_at=swept_at,
            actions_until=sa.func.statement_timestamp())
        stmt = insert.on_conflict_do_update(
            index_elements=["workspace_id"],
            set_={"swept_at": insert.excluded.swept_at,
                  "actions_until": insert.excluded.actions_until, "updated_at": sa.func.now()},
        ).returning(InsightSweep)
        row: InsightSweep = (await execute_translated(self, stmt, values)).scalars().one()
        return row

    async def finished(self, sweep_id: uuid.UUID, findings: JSON) -> InsightSweep:
        """Keep what the sweep found per detector (counts, failures), for logs and support."""
        return await self.update(sweep_id, findings=findings)
