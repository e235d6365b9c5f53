"""One trial: a case's conversation driven through the real runtime in a workspace clone.

The harness talks to `assistant.runtime.Runtime` the way a channel does: it stores a
conversation for the case's member, sends each user message, reads the turn's typed events, and
answers approval requests as the case says (`approve` / `reject` name tools; anything else is
left pending, which is what an unattended approval looks like). What the events show becomes an
`Observation` for the scorers: the tool calls with their arguments, status and approval, the
transcript, tokens, cost and each turn's wall time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from assistant import events as ev
from assistant.conversations import Conversations
from assistant.decisions import decide
from assistant.deps import RuntimeDeps
from assistant.runtime import Runtime, Turn
from evals.records import Said, ToolUse
from evals.schema import Case
from evals.scorers import summarise_args
from tools.context import Caller

MAX_DECISIONS = 6  # approvals answered per user message (a chain of risky calls)


@dataclass
class Transcript:
    """What the events of a trial's turns showed, in order."""

    said: list[Said] = field(default_factory=list)
    uses: dict[str, ToolUse] = field(default_factory=dict)
    tokens: int = 0
    cost_usd: float = 0.0
    turn_ms: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)

    def absorb(self, event: ev.Event) -> None:
        if isinstance(event, ev.ToolStarted):
            use = self._use(event.call_id, event.tool)
            if use.arguments is None:  # an approved call is re-announced in its stored form
                use.arguments = event.arguments
        elif isinstance(event, ev.ToolFinished):
            use = self._use(event.call_id, event.tool)
            use.status, use.error = event.status, event.error
            use.result = summarise_args(event.result)
        elif isinstance(event, ev.ApprovalRequired):
            use = self._use(event.call_id, event.tool)
            use.approval = "requested"
            if use.arguments is None:
                use.arguments = event.arguments
            self.pending.append((event.pending_action_id, event.tool))
        elif isinstance(event, ev.ApprovalResolved) and event.call_id in self.uses:
            self.uses[event.call_id].approval = event.decision
            # The decided call runs under an id of its own (assistant.approvals); its events
            # belong to the model's call that asked for it.
            self.aliases[f"approval_{event.pending_action_id.hex[:16]}"] = event.call_id
        elif isinstance(event, ev.Usage):
            self.tokens += event.prompt_tokens + event.completion_tokens
            self.cost_usd += event.cost_usd
        elif isinstance(event, ev.MessageCompleted) and event.content.strip():
            self.said.append(Said(role="assistant", text=event.content))
        elif isinstance(event, ev.Error):
            self.errors.append(f"{event.code}: {event.message}")

    def _use(self, call_id: str, name: str) -> ToolUse:
        call_id = self.aliases.get(call_id, call_id)
        if call_id not in self.uses:
            self.uses[call_id] = ToolUse(call_id=call_id, name=name)
        return self.uses[call_id]


class Conversation:
    """The case's member talking to the runtime in one conversation of a clone."""

    def __init__(self, deps: RuntimeDeps, caller: Caller, case: Case) -> None:
        self.deps, self.caller, self.case = deps, caller, case
        self.runtime = Runtime(deps)
        self.seen = Transcript()
        self.conversation_id: uuid.UUID | None = None

    async def start(self) -> None:
        row = await Conversations(self.deps.database).create(self.caller,
                                                             title=f"eval {self.case.id}")
        self.conversation_id = row.id

    async def say(self, text: str) -> None:
        """One user message, then the approvals it raises, answered as the case says."""
        assert self.conversation_id is not None, "start() first"
        self.seen.said.append(Said(role="user", text=text))
        await self._follow(await self.runtime.send(self.caller, self.conversation_id, text))
        for _ in range(MAX_DECISIONS):
            decision = self._next_decision()
            if decision is None:
                return
            pending_id, approve = decision
            made = await decide(self.deps, self.caller, pending_id, approve=approve)
            if made.turn is not None:
                await self._follow(made.turn)

    def _next_decision(self) -> tuple[uuid.UUID, bool] | None:
        while self.seen.pending:
            pending_id, tool = self.seen.pending.pop(0)
            if _named(tool, self.case.approve):
                return pending_id, True
            if _named(tool, self.case.reject):
                return pending_id, False
        return None

    async def _follow(self, turn: Turn) -> None:
        started = time.perf_counter()
        async with turn:
            async for event in turn:
                self.seen.absorb(event)
        self.seen.turn_ms.append(int((time.perf_counter() - started) * 1000))


def _named(tool: str, names: list[str]) -> bool:
    return tool in names or "*" in names


def as_json(value: Any) -> Any:
    """Tool arguments as the report stores them (JSON types only)."""
    if isinstance(value, Mapping):
        return {str(k): as_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [as_json(v) for v in value]
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)
