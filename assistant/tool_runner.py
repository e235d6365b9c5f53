"""Executing the tool calls of one model step.

Calls run concurrently, each in its own session and transaction bound to the workspace, and each
leaves a `neptune_action_history` row. The idempotency key is `<turn id>:<call id>`: a call whose
key already succeeded returns its stored result instead of acting again. A call the policy sends
for approval becomes an `agent_pending_actions` row holding the exact arguments, and the model is
told the action awaits the user. Outcomes come back in the order the model emitted the calls.

The tool's own writes run in a savepoint, so a failed call rolls back its partial writes but
still records its history row in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.gateway import ToolCall
from store.models.ai import ActionStatus, NeptuneActionHistory
from store.models.orchestration import AgentPendingAction
from store.repositories.ai import ActionHistoryRepository
from store.repositories.base import utcnow
from store.repositories.neptune import AutonomyRepository
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import scoped_session
from tools.context import Caller, ToolContext
from tools.errors import RetryableToolError, ToolError, ToolFailed
from tools.invoke import invoke, parse_arguments
from tools.policy import ToolOverride, Verdict, decide, refusal
from tools.registry import Tool, ToolRegistry

log = logging.getLogger(__name__)
Status = Literal["success", "error", "awaiting_approval", "rejected", "refused"]
UNPARSED_CHARS = 2000


class ToolCrashed(Exception):
    """A tool raised something that is not a ToolError: a bug. Ends the turn."""


@dataclass(frozen=True)
class CallOutcome:
    call: ToolCall
    status: Status
    content: str
    result: Any = None
    error: str | None = None
    retryable: bool = False
    pending: AgentPendingAction | None = None
    duration_ms: int = 0


@dataclass
class CallBatch:
    """What the runner needs to know about the step whose calls it runs."""

    caller: Caller
    sessions: async_sessionmaker[AsyncSession]
    registry: ToolRegistry
    overrides: Mapping[str, ToolOverride]
    turn_id: uuid.UUID
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    model: str
    approval_ttl: timedelta
    services: Mapping[str, Any] = field(default_factory=dict)
    step_tokens: int = 0

    def key(self, call: ToolCall) -> str:
        return f"{self.turn_id}:{call.id}"


def tool_content(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), default=str)


async def run_calls(batch: CallBatch, calls: Sequence[ToolCall]) -> list[CallOutcome]:
    """Run the calls concurrently; outcomes in emission order. A crash cancels the others."""
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run_call(batch, call)) for call in calls]
    return [t.result() for t in tasks]


async def run_call(batch: CallBatch, call: ToolCall) -> CallOutcome:
    started = time.perf_counter()
    tool = batch.registry.get(call.name)
    try:
        args = _admit(batch, tool, call)
    except ToolError as error:
        outcome = _failure(call, error, started,
                           status="error" if error.retryable else "refused")
        await _record_unrun(batch, call, outcome)
        return outcome
    assert tool is not None
    try:
        async with scoped_session(batch.sessions, batch.caller.scope) as session:
            return await _execute(batch, session, tool, call, args, started)
    except ToolCrashed as crash:
        await _record_unrun(batch, call, CallOutcome(call, "error", "", error=str(crash)))
        raise


def _admit(batch: CallBatch, tool: Tool | None, call: ToolCall) -> BaseModel:
    """The parsed arguments of a call the caller may make; ToolError otherwise."""
    if tool is None:
        known = ", ".join(t.name for t in batch.registry)
        raise RetryableToolError(f"there is no tool named {call.name!r}; tools: {known}")
    reason = refusal(tool, batch.caller, batch.overrides.get(tool.name))
    if reason is not None:
        raise ToolFailed(reason)
    return parse_arguments(tool, call.arguments)


async def _record_unrun(batch: CallBatch, call: ToolCall, outcome: CallOutcome) -> None:
    """History for a call that never reached its tool (unknown, refused, invalid, crashed)."""
    async with scoped_session(batch.sessions, batch.caller.scope) as session:
        history = ActionHistoryRepository(session, batch.caller.scope)
        if await history.by_idempotency_key(batch.key(call)) is not None:
            return
        await history.create(
            user_id=batch.caller.user_id, conversation_id=batch.conversation_id,
            message_id=batch.message_id, tool_call_id=call.id, action_type=call.name[:100],
            input=_raw_input(call), ai_model=batch.model,
            idempotency_key=batch.key(call), status=ActionStatus.ERROR, error=outcome.error,
            duration_ms=outcome.duration_ms,
        )


def _raw_input(call: ToolCall) -> dict[str, Any]:
    value = call.decoded()
    if isinstance(value, dict):
        return value
    return {"unparsed": value[:UNPARSED_CHARS] if isinstance(value, str) else value}


async def _execute(
    batch: CallBatch, session: AsyncSession, tool: Tool, call: ToolCall, args: BaseModel,
    started: float,
) -> CallOutcome:
    scope = batch.caller.scope
    history = ActionHistoryRepository(session, scope)
    earlier = await history.by_idempotency_key(batch.key(call))
    if earlier is not None:
        return await _replay(session, batch, call, earlier, started)
    auto = tool.risk == "medium" and await AutonomyRepository(session, scope).may_auto_execute(
        batch.caller.user_id, tool.name)
    decision = decide(tool, override=batch.overrides.get(tool.name), auto_enabled=auto)
    arguments = args.model_dump(mode="json")
    row = await history.create(
        user_id=batch.caller.user_id, conversation_id=batch.conversation_id,
        message_id=batch.message_id, tool_call_id=call.id, action_type=tool.name,
        input=arguments, ai_model=batch.model, idempotency_key=batch.key(call),
        automatic=decision.verdict == Verdict.RUN, tokens_used=batch.step_tokens,
        status=ActionStatus.RUNNING if decision.verdict == Verdict.RUN
        else ActionStatus.PENDING_APPROVAL,
    )
    if decision.verdict == Verdict.ASK:
        pending = await AgentPendingActionRepository(session, scope).request(
            tool_name=tool.name, tool_arguments=arguments, risk_level=tool.risk,
            title=tool.describe_call(arguments), idempotency_key=batch.key(call),
            user_id=batch.caller.user_id, conversation_id=batch.conversation_id,
            reasons=list(decision.reasons), expires_at=utcnow() + batch.approval_ttl,
            details={"call_id": call.id, "message_id": str(batch.message_id),
                     "action_history_id": str(row.id)},
        )
        return _awaiting(call, pending, started)
    ctx = ToolContext(batch.caller, session, batch.key(call), batch.conversation_id,
                      batch.services)
    outcome = await execute_now(ctx, tool, args, call, started)
    await history.finish(row.id, _history_status(outcome), output=outcome.result,
                         error=outcome.error, duration_ms=outcome.duration_ms)
    return outcome


async def _replay(
    session: AsyncSession, batch: CallBatch, call: ToolCall, earlier: NeptuneActionHistory,
    started: float,
) -> CallOutcome:
    """The outcome of a call this turn already made: never act twice for one key."""
    if earlier.status == ActionStatus.SUCCESS:
        return _success(call, earlier.output, started)
    pending = await AgentPendingActionRepository(session, batch.caller.scope).by_idempotency_key(
        batch.key(call))
    if earlier.status == ActionStatus.PENDING_APPROVAL and pending is not None:
        return _awaiting(call, pending, started)
    return _failure(call, ToolFailed(earlier.error or f"already {earlier.status}"), started)


async def execute_now(
    ctx: ToolContext, tool: Tool, args: BaseModel, call: ToolCall, started: float
) -> CallOutcome:
    """Run the tool in a savepoint of the context's transaction; map its errors."""
    try:
        async with ctx.session.begin_nested():
            result = await invoke(tool, ctx, args)
    except ToolError as error:
        return _failure(call, error, started)
    except Exception as exc:
        log.exception("tool %s crashed (call %s)", tool.name, call.id)
        raise ToolCrashed(f"{tool.name} failed unexpectedly") from exc
    return _success(call, result.model_dump(mode="json"), started)


def _history_status(outcome: CallOutcome) -> ActionStatus:
    return ActionStatus.SUCCESS if outcome.status == "success" else ActionStatus.ERROR


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)


def _success(call: ToolCall, result: Any, started: float) -> CallOutcome:
    return CallOutcome(call, "success", tool_content({"ok": True, "result": result}), result,
                       duration_ms=_ms(started))


def _failure(call: ToolCall, error: ToolError, started: float,
             status: Status = "error") -> CallOutcome:
    advice = ("correct the arguments and call again" if error.retryable
              else "this failed; do not retry the same call, tell the user")
    content = tool_content({"ok": False, "error": str(error), "retry": error.retryable,
                            "advice": advice})
    return CallOutcome(call, status, content, error=str(error), retryable=error.retryable,
                       duration_ms=_ms(started))


def _awaiting(call: ToolCall, pending: AgentPendingAction, started: float) -> CallOutcome:
    content = tool_content({
        "ok": False, "status": "awaiting_approval", "pending_action_id": str(pending.id),
        "message": "Not done yet: this action is waiting for the user's approval. Tell the user"
                   " it awaits their approval; do not call it again.",
    })
    return CallOutcome(call, "awaiting_approval", content, pending=pending,
                       duration_ms=_ms(started))
