"""Deciding a pending action: approve runs the stored call exactly once; reject records it.

The decision is a conditional UPDATE (`pending` and not expired -> approved/rejected), so of two
concurrent approvals exactly one wins and the other gets `Conflict`; an expired or decided
action can never run. The approved call executes with the arguments stored when it was
proposed, as the approver, and its outcome is written back to the pending row and to the
action history row the proposal created. Only people decide: no tool can reach this module.

An action a grid run paused on (`grid_execution_id`) goes through the same decision; in the
same transaction as its outcome, `tools.grids.runs.after_decision` records it on the run's step
and sets the run to resume (a rejection fails that step).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.deps import RuntimeDeps
from assistant.gateway import ToolCall
from assistant.tool_runner import CallOutcome, execute_now, tool_content
from store.errors import NotFound
from store.models.ai import ActionStatus
from store.models.core import MemberRole, Workspace
from store.models.orchestration import AgentPendingAction, ApprovalStatus
from store.repositories.ai import ActionHistoryRepository
from store.repositories.neptune import AutonomyRepository
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import scoped_session
from tools.context import Caller, ToolContext
from tools.errors import ToolFailed
from tools.grids.runs import after_decision
from tools.invoke import parse_arguments
from tools.policy import may_auto_enable, overrides_from_settings, refusal


class ApprovalRefused(Exception):
    """The caller may not decide this action (not theirs to decide, or a tool they may not use)."""


@dataclass(frozen=True)
class Resolution:
    pending: AgentPendingAction
    approved: bool
    outcome: CallOutcome
    call: ToolCall
    auto_execute_offered: bool = False


async def load_pending(
    deps: RuntimeDeps, caller: Caller, pending_id: uuid.UUID
) -> AgentPendingAction:
    """The pending action, if the caller may decide it; another workspace's id is NotFound."""
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        pending = await AgentPendingActionRepository(session, caller.scope).get(pending_id)
        settings = await _workspace_settings(session, caller)
    if pending.user_id not in (None, caller.user_id) and not caller.at_least(MemberRole.ADMIN):
        raise ApprovalRefused("only the person who asked, or an admin, can decide this action")
    tool = deps.registry.get(pending.tool_name)
    if tool is None:
        raise ApprovalRefused(f"the tool {pending.tool_name} no longer exists")
    reason = refusal(tool, caller, overrides_from_settings(settings).get(tool.name))
    if reason is not None:
        raise ApprovalRefused(reason)
    return pending


async def resolve(
    deps: RuntimeDeps, caller: Caller, pending_id: uuid.UUID, *, approve: bool,
    notes: str | None = None,
) -> Resolution:
    """Record the decision (Conflict if it is too late), then run or cancel the call."""
    status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        pending = await AgentPendingActionRepository(session, caller.scope).decide(
            pending_id, status, caller.user_id, notes=notes, channel=caller.channel)
        autonomy = AutonomyRepository(session, caller.scope)
        if approve:
            await autonomy.record_approval(caller.user_id, pending.tool_name)
        else:
            await autonomy.record_rejection(caller.user_id, pending.tool_name)
        offered = approve and await _offer(deps, autonomy, caller, pending)
    call = ToolCall(f"approval_{pending.id.hex[:16]}", pending.tool_name,
                    json.dumps(pending.tool_arguments, separators=(",", ":")))
    if approve:
        outcome = await _execute(deps, caller, pending, call)
    else:
        outcome = await _reject(deps, caller, pending, call, notes)
    return Resolution(pending, approve, outcome, call, offered)


async def _offer(
    deps: RuntimeDeps, autonomy: AutonomyRepository, caller: Caller, pending: AgentPendingAction
) -> bool:
    """Whether to offer this user automatic runs of this tool from now on."""
    tool = deps.registry.get(pending.tool_name)
    if tool is None or not may_auto_enable(tool):
        return False
    row = await autonomy.find_for(caller.user_id, tool.name)
    return bool(row and not row.auto_execute_enabled and
                await autonomy.eligible(caller.user_id, tool.name))


async def _execute(
    deps: RuntimeDeps, caller: Caller, pending: AgentPendingAction, call: ToolCall
) -> CallOutcome:
    started = time.perf_counter()
    tool = deps.registry.get(pending.tool_name)
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        ctx = ToolContext(caller, session, pending.idempotency_key or str(pending.id),
                          pending.conversation_id, deps.tool_services)
        if tool is None:
            raise NotFound("tool", pending.tool_name)
        outcome = await execute_now(ctx, tool, parse_arguments(tool, pending.tool_arguments),
                                    call, started)
        ok = outcome.status == "success"
        await AgentPendingActionRepository(session, caller.scope).complete(
            pending.id, ApprovalStatus.EXECUTED if ok else ApprovalStatus.FAILED,
            {"result": outcome.result} if ok else {"error": outcome.error})
        await _history(session, caller, pending, ActionStatus.SUCCESS if ok else
                       ActionStatus.ERROR, output=outcome.result, error=outcome.error,
                       duration_ms=outcome.duration_ms)
        await after_decision(session, caller.scope, pending, ok,
                             outcome.result if ok else outcome.error)
    return outcome


async def _reject(
    deps: RuntimeDeps, caller: Caller, pending: AgentPendingAction, call: ToolCall,
    notes: str | None,
) -> CallOutcome:
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        await _history(session, caller, pending, ActionStatus.REJECTED,
                       error=f"rejected by the user{': ' + notes if notes else ''}")
        await after_decision(session, caller.scope, pending, False,
                             f"rejected by the user{': ' + notes if notes else ''}")
    error = ToolFailed("the user rejected this action; it was not done" +
                       (f" (their note: {notes})" if notes else ""))
    content = tool_content({"ok": False, "status": "rejected", "error": str(error),
                            "advice": "do not retry; ask the user what they want instead"})
    return CallOutcome(call, "rejected", content, error=str(error))


async def _history(
    session: AsyncSession, caller: Caller, pending: AgentPendingAction, status: ActionStatus,
    **values: Any,
) -> None:
    repo = ActionHistoryRepository(session, caller.scope)
    row = await repo.by_idempotency_key(pending.idempotency_key) if pending.idempotency_key \
        else None
    if row is not None:
        await repo.finish(row.id, status, approved_by=caller.user_id, automatic=False, **values)


async def _workspace_settings(session: AsyncSession, caller: Caller) -> dict[str, Any]:
    settings = await session.scalar(
        sa.select(Workspace.settings).where(Workspace.id == caller.workspace_id))
    return dict(settings or {})
