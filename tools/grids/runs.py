"""A run's life outside the engine loop: queueing it, cancelling it, and continuing it after a
person decided the approval it paused on (or let the approval expire).

Each function works inside the caller's transaction (a tool call's, or the approval flow's), so
its changes commit together with whatever the caller did: the approved tool's effect, the step's
outcome and the run's new status land at once or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import Conflict, InvalidArgument
from store.models.grids import GridExecution, GridRunStatus, GridStatus, StepStatus
from store.models.orchestration import AgentPendingAction, ApprovalStatus
from store.repositories.grids import (
    ExecutionStepRepository,
    GridExecutionRepository,
    GridGraph,
    GridRepository,
)
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import WorkspaceScope
from tools.errors import describe_validation
from tools.grids import expressions as ex
from tools.grids.specs import GraphSpec, spec_of
from tools.grids.state import Failure, Planner, RunState, Waiting
from tools.grids.validation import Report, validate
from tools.jobs import notify_due
from tools.registry import ToolRegistry

RUN_KIND = "grid_run"
RESUME_KIND = "grid_resume"
OPEN = (GridRunStatus.PENDING, GridRunStatus.RUNNING, GridRunStatus.WAITING,
        GridRunStatus.PAUSED)


async def load_spec(session: AsyncSession, scope: WorkspaceScope,
                    grid_id: uuid.UUID) -> tuple[GridGraph, GraphSpec]:
    """The stored grid and its spec; a stored row the engine cannot read is InvalidArgument."""
    graph = await GridRepository(session, scope).load_graph(grid_id)
    try:
        return graph, spec_of(graph)
    except ValidationError as error:
        raise InvalidArgument(f"grid {graph.grid.name!r} has a node or edge the engine cannot "
                              f"read: {describe_validation(error)}") from error


async def queue_run(
    session: AsyncSession, scope: WorkspaceScope, grid_id: uuid.UUID, *,
    run_input: Mapping[str, Any], triggered_by: uuid.UUID, registry: ToolRegistry,
    trigger_type: str = "manual",
) -> tuple[GridExecution, Report]:
    """A `pending` execution holding the grid's validated snapshot and the run's input, for
    the worker (or `Engine.advance`) to run. An invalid grid is InvalidArgument."""
    graph, spec = await load_spec(session, scope, grid_id)
    if graph.grid.status == GridStatus.ARCHIVED:
        raise Conflict(f"grid {graph.grid.name!r} is archived; it cannot run")
    report = validate(spec, registry)
    if not report.valid:
        raise InvalidArgument(f"grid {graph.grid.name!r} cannot run: {report.summary()}")
    state = RunState(graph=spec, input=dict(run_input))
    run = await GridExecutionRepository(session, scope).queue(
        grid_id, trigger_type=trigger_type, trigger_data=dict(run_input),
        triggered_by=triggered_by, context=state.dump(),
    )
    return run, report


async def cancel(session: AsyncSession, scope: WorkspaceScope, execution_id: uuid.UUID,
                 cancelled_by: uuid.UUID | None) -> GridExecution:
    """Stop a run that has not ended. A waiting or paused run stops now (its open step is
    closed and a pending approval expires, so it can no longer be approved); a running one
    stops at its next step boundary. An ended run is a Conflict."""
    runs = GridExecutionRepository(session, scope)
    run = await runs.get(execution_id)
    if run.status.is_final:
        raise Conflict(f"the run already ended ({run.status})")
    state = RunState.model_validate(run.context) if run.context else None
    if state is not None and run.status != GridRunStatus.RUNNING:
        await _close_open_steps(session, scope, state)
    return await runs.finish(
        execution_id, GridRunStatus.CANCELLED, expected=OPEN,
        error={"message": "cancelled", "cancelled_by": str(cancelled_by) if cancelled_by
               else None},
    )


async def _close_open_steps(session: AsyncSession, scope: WorkspaceScope,
                            state: RunState) -> None:
    steps = ExecutionStepRepository(session, scope)
    open_ids = [frame.step_id for frame in state.frames.values()]
    if state.waiting is not None:
        open_ids.append(state.waiting.step_id)
        if state.waiting.pending_id is not None:
            await _expire(session, scope, state.waiting.pending_id)
    for step_id in open_ids:
        await steps.complete(step_id, StepStatus.FAILED,
                             error={"message": "the run was cancelled before this step ended"})


async def _expire(session: AsyncSession, scope: WorkspaceScope, pending_id: uuid.UUID) -> None:
    """Expire a still-pending approval (a conditional update: a decided one is left alone)."""
    await session.execute(
        sa.update(AgentPendingAction)
        .where(AgentPendingAction.workspace_id == scope.workspace_id,
               AgentPendingAction.id == pending_id,
               AgentPendingAction.status == ApprovalStatus.PENDING)
        .values(status=ApprovalStatus.EXPIRED, updated_at=sa.func.now())
        .execution_options(synchronize_session=False)
    )


async def after_decision(
    session: AsyncSession, scope: WorkspaceScope, pending: AgentPendingAction, ok: bool,
    outcome: Any,
) -> uuid.UUID | None:
    """Continue the run a decided approval belongs to: record the action step's outcome (`ok`
    with the tool's result, or not with the error or rejection) and set the run `waiting`, due
    now, and nudge the worker (delivered when the caller's transaction commits). Returns the
    execution id, or None when the action belongs to no paused run (cancelled meanwhile, or a
    chat action)."""
    if pending.grid_execution_id is None:
        return None
    runs = GridExecutionRepository(session, scope)
    run = await runs.find(pending.grid_execution_id)
    if run is None or run.status != GridRunStatus.PAUSED:
        return None
    state = RunState.model_validate(run.context)
    waiting = state.waiting
    if waiting is None or waiting.pending_id != pending.id:
        return None
    state.waiting = None
    await _record_outcome(ExecutionStepRepository(session, scope), Planner(state), waiting,
                          pending, ok, outcome)
    moved = await runs.transition(run.id, [GridRunStatus.PAUSED], status=GridRunStatus.WAITING,
                                  resume_at=sa.func.now(), context=state.dump())
    if moved is None:
        return None
    await notify_due(session, RESUME_KIND, run.id)
    return run.id


async def _record_outcome(steps: ExecutionStepRepository, planner: Planner, waiting: Waiting,
                          pending: AgentPendingAction, ok: bool, outcome: Any) -> None:
    """The action node's outcome, on its step and in the state (as the engine would have)."""
    message = None if ok else _failure_message(outcome)
    if ok:
        try:
            taken = planner.complete(waiting.node, outcome)
        except ex.ExpressionError as error:
            message = f"edge condition: {error}"
        else:
            logs = [f"approved; {pending.tool_name} ran",
                    *([f"took edges {', '.join(taken)}"] if taken else [])]
            await steps.complete(waiting.step_id, StepStatus.COMPLETED,
                                 output={"result": outcome, "logs": logs})
            return
    assert message is not None
    handled = planner.fail(waiting.node, message)
    await steps.complete(waiting.step_id, StepStatus.FAILED, error={"message": message})
    if not handled:
        planner.state.failure = Failure(node=waiting.node, message=message)


async def expire_approvals(session: AsyncSession, scope: WorkspaceScope) -> list[uuid.UUID]:
    """Fail the action step of every paused run whose approval expired undecided, so the run
    ends (or follows its error edge) instead of staying paused forever. Returns the runs to
    resume (each nudged). Meant for the worker's periodic sweep."""
    runs = GridExecutionRepository(session, scope)
    resumed: list[uuid.UUID] = []
    paused = await runs.list(status=GridRunStatus.PAUSED, limit=100)
    for run in paused.items:
        if not run.context:
            continue
        waiting = RunState.model_validate(run.context).waiting
        if waiting is None or waiting.pending_id is None:
            continue
        await _expire_overdue(session, scope, waiting.pending_id)
        pending = await session.scalar(
            AgentPendingActionRepository(session, scope).select()
            .where(AgentPendingAction.id == waiting.pending_id)
            .execution_options(populate_existing=True))
        if pending is not None and pending.status == ApprovalStatus.EXPIRED:
            moved = await after_decision(session, scope, pending, False,
                                         "the approval expired before anyone decided")
            resumed.extend([moved] if moved else [])
    return resumed


async def _expire_overdue(session: AsyncSession, scope: WorkspaceScope,
                          pending_id: uuid.UUID) -> None:
    await session.execute(
        sa.update(AgentPendingAction)
        .where(AgentPendingAction.workspace_id == scope.workspace_id,
               AgentPendingAction.id == pending_id,
               AgentPendingAction.status == ApprovalStatus.PENDING,
               AgentPendingAction.expires_at <= sa.func.now())
        .values(status=ApprovalStatus.EXPIRED, updated_at=sa.func.now())
        .execution_options(synchronize_session=False)
    )
    await session.flush()


def _failure_message(outcome: Any) -> str:
    if isinstance(outcome, Mapping) and outcome.get("error"):
        return str(outcome["error"])
    return str(outcome or "the action failed")
