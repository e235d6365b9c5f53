"""The typed event stream every channel renders: one pydantic discriminated union.

Each event carries its conversation's monotonic `seq` (assigned when it is logged, see
`assistant.eventlog`) and is stored, so a client that reconnects asks for the events after the
last `seq` it saw and misses nothing. `turn.restarted` tells clients to discard the partial text
of the message it names: the model stream broke and the step is being answered again by the
fallback model, so text is never silently spliced.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def _now() -> datetime:
    return datetime.now(UTC)


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int = 0
    conversation_id: uuid.UUID
    turn_id: uuid.UUID | None = None
    at: datetime = Field(default_factory=_now)


class MessageCreated(_Event):
    type: Literal["message.created"] = "message.created"
    message_id: uuid.UUID
    role: Literal["user", "assistant"]
    content: str = ""


class TextDelta(_Event):
    type: Literal["text.delta"] = "text.delta"
    message_id: uuid.UUID
    text: str


class ToolStarted(_Event):
    type: Literal["tool.started"] = "tool.started"
    call_id: str
    tool: str
    arguments: Any = None


class ToolFinished(_Event):
    type: Literal["tool.finished"] = "tool.finished"
    call_id: str
    tool: str
    status: Literal["success", "error", "awaiting_approval", "rejected", "refused"]
    result: Any = None
    error: str | None = None
    duration_ms: int | None = None


class ApprovalRequired(_Event):
    type: Literal["approval.required"] = "approval.required"
    pending_action_id: uuid.UUID
    call_id: str
    tool: str
    arguments: dict[str, Any]
    risk: str
    title: str
    reasons: list[str] = Field(default_factory=list)
    expires_at: datetime


class ApprovalResolved(_Event):
    type: Literal["approval.resolved"] = "approval.resolved"
    pending_action_id: uuid.UUID
    decision: Literal["approved", "rejected"]
    decided_by: uuid.UUID | None = None
    call_id: str | None = None  # the model's call this decides (`approval.required.call_id`)


class Usage(_Event):
    type: Literal["usage"] = "usage"
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0


class Error(_Event):
    type: Literal["error"] = "error"
    code: str
    message: str
    retryable: bool = False


class TurnRestarted(_Event):
    type: Literal["turn.restarted"] = "turn.restarted"
    message_id: uuid.UUID
    reason: str
    model: str


class MessageCompleted(_Event):
    type: Literal["message.completed"] = "message.completed"
    message_id: uuid.UUID
    status: Literal["complete", "stopped", "error"]
    content: str = ""


class TurnCompleted(_Event):
    """The turn is over (the last event of every turn): clients may send the next message."""

    type: Literal["turn.completed"] = "turn.completed"
    status: Literal["complete", "stopped", "error"]
    message_id: uuid.UUID | None = None


Event = Annotated[
    MessageCreated | TextDelta | ToolStarted | ToolFinished | ApprovalRequired
    | ApprovalResolved | Usage | Error | TurnRestarted | MessageCompleted | TurnCompleted,
    Field(discriminator="type"),
]
EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def to_row(event: Event) -> tuple[str, dict[str, Any]]:
    """(type, payload) as stored in `conversation_events`; seq and conversation are columns."""
    payload = event.model_dump(mode="json", exclude={"seq", "conversation_id", "type"})
    return event.type, payload


def from_row(conversation_id: uuid.UUID, seq: int, kind: str, payload: dict[str, Any]) -> Event:
    return EVENT_ADAPTER.validate_python(
        {**payload, "type": kind, "seq": seq, "conversation_id": conversation_id}
    )
