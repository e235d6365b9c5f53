"""The worker's view: `neptune_due_work` lists queued and due grid runs, and the handlers run
them once, whatever the number of calls."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from store.models.neptune import OutboundMessage
from tests.conftest import WorkspaceFixture
from tests.grids.support import Sessions, chain, create, load, node, start
from tests.tools.helpers import rows
from tools.grids.worker import HANDLERS, resume_execution, run_execution
from tools.jobs import JobContext

NODES = [node("start", "trigger"), node("wait", "delay", hours=2),
         node("mail", "email", to="ops@example.com", body="done")]


async def due(sessions: Sessions, at: datetime) -> set[tuple[str, uuid.UUID, uuid.UUID]]:
    async with sessions() as s:
        found = await s.execute(
            sa.text("SELECT kind, workspace_id, record_id FROM neptune_due_work(:at, NULL, :n)"),
            {"at": at, "n": 100_000})
        return {(kind, ws, rec) for kind, ws, rec in found if kind.startswith("grid")}


async def test_handlers_run_queued_and_due_runs_once(call_tool: Any, sessions: Sessions,
                                                     ws: WorkspaceFixture) -> None:
    assert set(HANDLERS) == {"grid_run", "grid_resume"}
    grid_id = await create(call_tool, ws, NODES, chain("start", "wait", "mail"))
    execution_id = await start(call_tool, ws, grid_id)
    now = datetime.now(UTC)
    assert ("grid_run", ws.workspace_id, execution_id) in await due(sessions, now)

    job = JobContext(sessions, now)
    await run_execution(job, ws.workspace_id, execution_id)
    await run_execution(job, ws.workspace_id, execution_id)
    run = await load(sessions, ws, execution_id)
    assert run.status == "waiting" and len(run.steps) == 2
    listed = await due(sessions, now)
    assert not any(rec == execution_id for _, _, rec in listed)

    later = (run.execution.resume_at or now) + timedelta(seconds=1)
    assert ("grid_resume", ws.workspace_id, execution_id) in await due(sessions, later)
    await resume_execution(JobContext(sessions, now), ws.workspace_id, execution_id)
    assert (await load(sessions, ws, execution_id)).status == "waiting"  # too early: no-op
    for _ in range(2):
        await resume_execution(JobContext(sessions, later), ws.workspace_id, execution_id)
    run = await load(sessions, ws, execution_id)
    assert run.status == "completed" and len(await rows(sessions, ws, OutboundMessage)) == 1
    assert not any(rec == execution_id for _, _, rec in await due(sessions, later))
