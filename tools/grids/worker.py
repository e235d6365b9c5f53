"""The worker's handlers for grid runs (`tools.jobs.Handler`): `grid_run` for a queued run,
`grid_resume` for a waiting one whose time has come. Both only claim and advance the run
(`Engine.advance`): the claim is a conditional update, so a second call for the same run, or
one that comes too early, does nothing.
"""

from __future__ import annotations

import uuid

from store.tenancy import WorkspaceScope, scoped_session
from tools.grids.engine import Engine
from tools.grids.runs import RESUME_KIND, RUN_KIND, expire_approvals
from tools.jobs import Handler, JobContext


def _engine(job: JobContext, workspace_id: uuid.UUID) -> Engine:
    return Engine(job.sessions, WorkspaceScope(workspace_id), job.services, now=job.now)


async def run_execution(job: JobContext, workspace_id: uuid.UUID,
                        execution_id: uuid.UUID) -> None:
    """Run a queued (`pending`) execution until it ends or waits."""
    await _engine(job, workspace_id).advance(execution_id)


async def resume_execution(job: JobContext, workspace_id: uuid.UUID,
                           execution_id: uuid.UUID) -> None:
    """Continue a `waiting` execution whose `resume_at` has passed (a delay ended, or an
    approval was decided)."""
    await _engine(job, workspace_id).advance(execution_id)


async def expire_paused(job: JobContext, workspace_id: uuid.UUID) -> list[uuid.UUID]:
    """Fail the action step of the workspace's runs whose approval expired undecided (they
    then end, or follow their error edge, at their next resume). For a periodic sweep."""
    async with scoped_session(job.sessions, WorkspaceScope(workspace_id)) as session:
        return await expire_approvals(session, WorkspaceScope(workspace_id))


HANDLERS: dict[str, Handler] = {RUN_KIND: run_execution, RESUME_KIND: resume_execution}
