"""AI / Neptune assistant: conversations, messages, preferences, action history, insights,
message feedback, the workspace's own profile and when insight detectors last ran.

Messages are ordered by `seq`, unique within a conversation, rather than by timestamp: two rows
written in the same millisecond (a tool call and its result) must still replay in the order the
model produced them. Tool calls and results are stored structurally (`tool_calls`,
`tool_call_id`) so a later turn can replay them to the model exactly. A `summary` row replaces
older rows in the model's context (up to `summary_of_until_seq`) without deleting them.

The map's `metadata` columns are called `meta` (as in the admin domain) because `metadata` is
reserved on SQLAlchemy declarative classes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tags_column,
    tenant_fk,
    user_fk,
)


class Channel(enum.StrEnum):
    WEB = "web"
    SLACK = "slack"
    VOICE = "voice"
    SMS = "sms"
    API = "api"


class MessageRole(enum.StrEnum):
    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"
    SUMMARY = "summary"


class MessageStatus(enum.StrEnum):
    COMPLETE = "complete"
    STREAMING = "streaming"
    STOPPED = "stopped"
    ERROR = "error"


class ActionStatus(enum.StrEnum):
    RUNNING = "running"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    REJECTED = "rejected"
    SUCCESS = "success"
    ERROR = "error"
    CANCELLED = "cancelled"


class InsightType(enum.StrEnum):
    OPPORTUNITY = "opportunity"
    WARNING = "warning"
    RECOMMENDATION = "recommendation"
    MILESTONE = "milestone"


class InsightStatus(enum.StrEnum):
    PENDING = "pending"
    SEEN = "seen"
    ACTED = "acted"
    DISMISSED = "dismissed"
    EXPIRED = "expired"


class Rating(enum.StrEnum):
    UP = "up"
    DOWN = "down"


# -- validated JSON shapes --------------------------------------------------------------------
class AssistantPreferences(BaseModel):
    """What a user can tell Neptune about how to answer; stored in `ai_user_preferences`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tone: Literal["neutral", "friendly", "professional", "casual", "formal"] = Field(
        default="neutral", description="Voice of the answers."
    )
    verbosity: Literal["brief", "normal", "detailed"] = Field(
        default="normal", description="How long answers should be."
    )
    language: str = Field(
        default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$",
        description="BCP 47 language tag answers are written in, e.g. 'en' or 'pt-BR'.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone, e.g. 'Europe/Paris'.")

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value


class Shortcut(BaseModel):
    """A user's text expansion: typing `command` sends `expansion`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: str = Field(min_length=1, max_length=40, pattern=r"^/?[\w-]+$")
    expansion: str = Field(min_length=1, max_length=2000)


# -- tables -----------------------------------------------------------------------------------
class AiConversation(TenantTable):
    """One thread with Neptune, on one channel. `external_key` ties it to a channel's own thread
    (a Slack thread, a phone call) so the next delivery continues the same conversation."""

    __tablename__ = "ai_conversations"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "external_key"),
        sa.Index(None, "workspace_id", "user_id", "last_message_at"),
        sa.Index(None, "workspace_id", "last_message_at"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str | None]
    model: Mapped[str | None]
    context: Mapped[JSON] = json_column()
    message_count: Mapped[int] = counter_column()
    last_message_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    is_archived: Mapped[bool] = flag_column(False)
    is_pinned: Mapped[bool] = flag_column(False)
    channel: Mapped[Channel] = enum_column(Channel, default=Channel.WEB)
    external_key: Mapped[str | None]


class AiMessage(TenantTable):
    __tablename__ = "ai_messages"
    __table_args__ = (
        tenant_fk("ai_conversations", "conversation_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "conversation_id", "seq"),
        sa.CheckConstraint("seq > 0", name="seq_positive"),
        sa.CheckConstraint(
            "(role = 'summary') = (summary_of_until_seq IS NOT NULL)", name="summary_range"
        ),
        sa.CheckConstraint("role <> 'tool' OR tool_call_id IS NOT NULL", name="tool_result_call"),
    )
    conversation_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    role: Mapped[MessageRole] = enum_column(MessageRole)
    content: Mapped[str] = mapped_column(default="", server_default="")
    model: Mapped[str | None]
    tokens: Mapped[JSON] = json_column()
    token_count: Mapped[int] = counter_column()
    meta: Mapped[JSON] = json_column()
    tool_calls: Mapped[list[Any] | None] = mapped_column(JSONB(none_as_null=True))
    tool_call_id: Mapped[str | None]
    status: Mapped[MessageStatus] = enum_column(MessageStatus, default=MessageStatus.COMPLETE)
    prompt_ref: Mapped[str | None]
    tool_schema_hashes: Mapped[JSON] = json_column()
    response_time_ms: Mapped[int | None]
    summary_of_until_seq: Mapped[int | None] = mapped_column(sa.BigInteger)


class AiUserPreferences(TenantTable):
    """One row per member: `preferences` holds an `AssistantPreferences`, `shortcuts` a list
    of `Shortcut`; the repository validates both before writing."""

    __tablename__ = "ai_user_preferences"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    preferences: Mapped[JSON] = json_column()
    shortcuts: Mapped[list[Any]] = json_column(default="[]")
    recent_searches: Mapped[list[str]] = tags_column()
    favorite_agents: Mapped[list[str]] = tags_column()
    learning_data: Mapped[JSON] = json_column()


class NeptuneActionHistory(TenantTable):
    """Every tool call Neptune made or proposed: the audit trail and the autonomy evidence.

    `idempotency_key` (turn + call id) makes a retried or resumed call find its earlier row
    instead of acting twice. History outlives the conversation it came from.
    """

    __tablename__ = "neptune_action_history"
    __table_args__ = (
        tenant_fk("ai_conversations", "conversation_id"),
        tenant_fk("ai_messages", "message_id"),
        sa.UniqueConstraint("workspace_id", "idempotency_key"),
        sa.Index(None, "workspace_id", "action_type", "created_at"),
        sa.Index(None, "workspace_id", "conversation_id", "created_at"),
        sa.Index(None, "workspace_id", "status", "created_at"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    conversation_id: Mapped[uuid.UUID | None]
    message_id: Mapped[uuid.UUID | None]
    tool_call_id: Mapped[str | None]
    action_type: Mapped[str]
    target: Mapped[str | None]
    input: Mapped[JSON] = json_column()
    output: Mapped[Any | None] = mapped_column(JSONB(none_as_null=True))
    status: Mapped[ActionStatus] = enum_column(ActionStatus, default=ActionStatus.RUNNING)
    success: Mapped[bool] = flag_column(False)
    error: Mapped[str | None]
    duration_ms: Mapped[int | None]
    ai_model: Mapped[str | None]
    tokens_used: Mapped[int] = counter_column()
    approved_by: Mapped[uuid.UUID | None] = user_fk()
    automatic: Mapped[bool] = flag_column(False)
    idempotency_key: Mapped[str | None]


class ProactiveInsight(TenantTable):
    """Something a detector noticed. `fingerprint` identifies the situation (detector + record +
    kind) so a sweep updates instead of duplicating; `data_hash` says whether the facts changed,
    which is the only thing that brings back an insight the user dismissed."""

    __tablename__ = "proactive_insights"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "fingerprint"),
        sa.Index(None, "workspace_id", "status", "priority"),
        sa.Index(None, "workspace_id", "record_type", "record_id"),
        sa.Index(None, "workspace_id", "user_id", "status"),
        sa.CheckConstraint("priority BETWEEN 0 AND 100", name="priority_range"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk(ondelete="CASCADE")
    type: Mapped[InsightType] = enum_column(InsightType)
    title: Mapped[str]
    description: Mapped[str | None]
    priority: Mapped[int] = mapped_column(default=50, server_default="50")
    data: Mapped[JSON] = json_column()
    actions: Mapped[list[Any]] = json_column(default="[]")
    status: Mapped[InsightStatus] = enum_column(InsightStatus, default=InsightStatus.PENDING)
    expires_at: Mapped[datetime | None]
    fingerprint: Mapped[str]
    detector: Mapped[str]
    record_type: Mapped[str | None]
    record_id: Mapped[uuid.UUID | None]
    data_hash: Mapped[str | None]
    seen_at: Mapped[datetime | None]
    acted_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]


class AiMessageFeedback(TenantTable):
    """A thumbs up or down on an assistant message; one per user and message."""

    __tablename__ = "ai_message_feedback"
    __table_args__ = (
        tenant_fk("ai_messages", "message_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "message_id", "user_id"),
        sa.Index(None, "workspace_id", "rating", "created_at"),
    )
    message_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID | None] = user_fk()
    rating: Mapped[Rating] = enum_column(Rating)
    comment: Mapped[str | None]


class WorkspaceIntelligence(TenantTable):
    """What Neptune knows about the company itself; exactly one row per workspace."""

    __tablename__ = "workspace_intelligence"
    __table_args__ = (sa.UniqueConstraint("workspace_id"),)
    company_profile: Mapped[JSON] = json_column()
    products: Mapped[list[Any]] = json_column(default="[]")
    brand_voice: Mapped[str | None]
    updated_by: Mapped[uuid.UUID | None] = user_fk()


class InsightSweep(TenantTable):
    """When the insight detectors last ran for a workspace (one row per workspace).

    `swept_at` is the worker's clock, compared with the sweep interval; `actions_until` is the
    database's clock when the sweep started, compared with action-history rows, so a committed
    deal-stage change or new invoice after it makes the workspace due again at once."""

    __tablename__ = "insight_sweeps"
    __table_args__ = (sa.UniqueConstraint("workspace_id"),)
    swept_at: Mapped[datetime]
    actions_until: Mapped[datetime]
    findings: Mapped[JSON] = json_column()
