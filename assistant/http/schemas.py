"""Request and response bodies of the REST API (what the OpenAPI document describes)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from assistant.context import PageContext
from assistant.events import Event
from assistant.runtime import MAX_MESSAGE_CHARS
from store.models.ai import AiConversation, AiMessage, NeptuneActionHistory


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ConversationCreate(Body):
    title: str | None = Field(default=None, max_length=200)


class ConversationPatch(Body):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    pinned: bool | None = None
    archived: bool | None = None


class ConversationOut(BaseModel):
    id: uuid.UUID
    title: str | None
    channel: str
    model: str | None
    pinned: bool
    archived: bool
    message_count: int
    last_message_at: datetime
    created_at: datetime

    @classmethod
    def of(cls, row: AiConversation) -> ConversationOut:
        return cls(id=row.id, title=row.title, channel=str(row.channel), model=row.model,
                   pinned=row.is_pinned, archived=row.is_archived,
                   message_count=row.message_count, last_message_at=row.last_message_at,
                   created_at=row.created_at)


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None = None


class MessageOut(BaseModel):
    id: uuid.UUID
    seq: int
    role: str
    content: str
    status: str
    tool_calls: list[Any] | None = None
    tool_call_id: str | None = None
    created_at: datetime

    @classmethod
    def of(cls, row: AiMessage) -> MessageOut:
        return cls(id=row.id, seq=row.seq, role=str(row.role), content=row.content,
                   status=str(row.status), tool_calls=row.tool_calls,
                   tool_call_id=row.tool_call_id, created_at=row.created_at)


class ToolCallOut(BaseModel):
    id: uuid.UUID
    tool: str
    status: str
    success: bool
    arguments: dict[str, Any]
    result: Any = None
    message_id: uuid.UUID | None
    created_at: datetime

    @classmethod
    def of(cls, row: NeptuneActionHistory) -> ToolCallOut:
        return cls(id=row.id, tool=row.action_type, status=str(row.status), success=row.success,
                   arguments=row.input, result=row.output, message_id=row.message_id,
                   created_at=row.created_at)


class ConversationDetailOut(ConversationOut):
    messages: list[MessageOut]
    tool_calls: list[ToolCallOut]


class MessageIn(Body):
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    page: PageContext | None = None


class TurnResult(BaseModel):
    """A finished turn: the answer, and every event it emitted (`first_seq`..`last_seq`)."""

    turn_id: uuid.UUID
    conversation_id: uuid.UUID
    status: Literal["complete", "stopped", "error", "awaiting_approval"]
    message_id: uuid.UUID | None
    text: str
    error: str | None = None
    pending_approvals: list[uuid.UUID] = Field(default_factory=list)
    first_seq: int
    last_seq: int
    events: list[Event]


class EventsOut(BaseModel):
    events: list[Event]
    last_seq: int


class DecisionIn(Body):
    notes: str | None = Field(default=None, max_length=2000)


class DecisionOut(BaseModel):
    """What deciding did: `turn` when a chat conversation continued, else the action's result."""

    pending_action_id: uuid.UUID
    decision: Literal["approved", "rejected"]
    kind: Literal["chat", "agent", "grid", "action"]
    tool: str
    status: str
    result: Any = None
    turn: TurnResult | None = None
    agent_status: str | None = None
    text: str | None = None


class ApprovalOut(BaseModel):
    id: uuid.UUID
    tool: str
    arguments: dict[str, Any]
    risk: str
    title: str | None
    status: str
    conversation_id: uuid.UUID | None
    requested_by: uuid.UUID | None
    expires_at: datetime | None
    created_at: datetime
