"""One door for approval decisions from any channel (REST, WebSocket, Slack, phone).

A pending action belongs to a chat conversation (the conversation continues with the result, as
a streamed turn), to an agent run's conversation (the run continues with the agent's own prompt
and tools, then is settled), or to a grid run (the run resumes on the worker). The caller gets
back what it can show: a turn to stream, an agent report, or the resolution itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from assistant.agent_runs import decide_agent_action
from assistant.approvals import Resolution, load_pending, resolve
from assistant.deps import RuntimeDeps
from assistant.runtime import Runtime, Turn
from store.repositories.ai import ConversationRepository
from store.tenancy import scoped_session
from tools.agents.runner import TurnReport
from tools.context import Caller
from tools.jobs import notify_due


@dataclass(frozen=True)
class Decision:
    kind: Literal["chat", "agent", "grid", "action"]
    tool: str
    turn: Turn | None = None
    report: TurnReport | None = None
    resolution: Resolution | None = None


async def decide(deps: RuntimeDeps, caller: Caller, pending_id: uuid.UUID, *, approve: bool,
                 notes: str | None = None) -> Decision:
    """Approve or reject; raises NotFound, ApprovalRefused or Conflict (decided, expired)."""
    pending = await load_pending(deps, caller, pending_id)
    if pending.conversation_id is None:
        resolution = await resolve(deps, caller, pending_id, approve=approve, notes=notes)
        if pending.grid_execution_id is None:
            return Decision("action", pending.tool_name, resolution=resolution)
        async with scoped_session(deps.database.sessions, caller.scope) as session:
            await notify_due(session, "grid_resume", pending.grid_execution_id)
        return Decision("grid", pending.tool_name, resolution=resolution)
    if await _agent_conversation(deps, caller, pending.conversation_id):
        report = await decide_agent_action(deps, caller, pending_id, approve=approve,
                                           notes=notes)
        return Decision("agent", pending.tool_name, report=report)
    turn = await Runtime(deps).decide(caller, pending_id, approve=approve, notes=notes)
    return Decision("chat", pending.tool_name, turn=turn)


async def _agent_conversation(deps: RuntimeDeps, caller: Caller,
                              conversation_id: uuid.UUID) -> bool:
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        conversation = await ConversationRepository(session, caller.scope).find(conversation_id)
    return bool(conversation and (conversation.context or {}).get("agent_execution_id"))
