"""Neptune's own tables, beyond the platform's map: the usage ledger budgets read, the
resumable event log channels replay, provider delivery de-duplication, autonomy learning,
remembered facts, and what the HTTP API keeps: access keys (hashed), shared rate-limit buckets
and idempotent request answers.

`conversation_events.seq` is monotonic per conversation, so a client that reconnects asks for
"everything after N" and misses nothing. `ingress_events` is unique per provider delivery id, so
a webhook delivered twice is handled once. Memory facts use the same dimension-agnostic vector
column and partial HNSW indexes as knowledge chunks.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tenant_fk,
    user_fk,
)
from store.models.knowledge import embedding_checks, vector_indexes


class UsageStatus(enum.StrEnum):
    SUCCESS = "success"
    ERROR = "error"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class IngressStatus(enum.StrEnum):
    RECEIVED = "received"
    PROCESSED = "processed"
    FAILED = "failed"


class UsageLedger(TenantTable):
    """One row per model call, written even when the call failed (failed calls can cost)."""

    __tablename__ = "usage_ledger"
    __table_args__ = (
        tenant_fk("ai_conversations", "conversation_id"),
        sa.Index(None, "workspace_id", "created_at"),
        sa.Index(None, "workspace_id", "user_id", "created_at"),
        sa.CheckConstraint(
            "prompt_tokens >= 0 AND completion_tokens >= 0 AND cached_tokens >= 0",
            name="tokens_not_negative",
        ),
        sa.CheckConstraint("cost_usd_micros >= 0", name="cost_not_negative"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    conversation_id: Mapped[uuid.UUID | None]
    purpose: Mapped[str] = mapped_column(default="chat", server_default="chat")
    model: Mapped[str]
    provider: Mapped[str | None]
    prompt_tokens: Mapped[int] = counter_column()
    completion_tokens: Mapped[int] = counter_column()
    cached_tokens: Mapped[int] = counter_column()
    cost_usd_micros: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    latency_ms: Mapped[int | None]
    status: Mapped[UsageStatus] = enum_column(UsageStatus, default=UsageStatus.SUCCESS)


class ConversationEvent(TenantTable):
    """One typed event of a conversation's stream (text delta, tool start/end, approval, ...)."""

    __tablename__ = "conversation_events"
    __table_args__ = (
        tenant_fk("ai_conversations", "conversation_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "conversation_id", "seq"),
        sa.CheckConstraint("seq > 0", name="seq_positive"),
    )
    conversation_id: Mapped[uuid.UUID]
    seq: Mapped[int] = mapped_column(sa.BigInteger)
    type: Mapped[str]
    payload: Mapped[JSON] = json_column()


class IngressEvent(TenantTable):
    """A delivery from a provider (Slack event id, Twilio message sid) seen by a channel."""

    __tablename__ = "ingress_events"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "provider", "event_id"),
        sa.Index(None, "workspace_id", "status", "updated_at"),
    )
    provider: Mapped[str]
    event_id: Mapped[str]
    status: Mapped[IngressStatus] = enum_column(IngressStatus, default=IngressStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(default=1, server_default="1")
    payload_hash: Mapped[str | None]
    error: Mapped[str | None]
    processed_at: Mapped[datetime | None]


class UserAutonomyPreference(TenantTable):
    """How a user has answered approval requests for one tool; the basis for letting a
    medium-risk tool run unasked. `confidence` is the Wilson lower bound of the approval rate."""

    __tablename__ = "user_autonomy_preferences"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "user_id", "tool_name"),
        sa.CheckConstraint("confidence BETWEEN 0 AND 1", name="confidence_range"),
    )
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    tool_name: Mapped[str]
    approvals: Mapped[int] = counter_column()
    rejections: Mapped[int] = counter_column()
    last_approved_at: Mapped[datetime | None]
    last_rejected_at: Mapped[datetime | None]
    confidence: Mapped[float] = mapped_column(sa.Float, default=0.0, server_default="0")
    auto_execute_enabled: Mapped[bool] = flag_column(False)


class MemoryFact(TenantTable):
    """Something Neptune should remember: about one user, or (user_id NULL) the workspace."""

    __tablename__ = "memory_facts"
    __table_args__ = (
        sa.Index(None, "workspace_id", "user_id", "created_at"),
        *vector_indexes("memory_facts"),
        *embedding_checks(),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk(ondelete="CASCADE")
    content: Mapped[str]
    source: Mapped[str | None]
    meta: Mapped[JSON] = json_column()
    embedding: Mapped[Any | None] = mapped_column(Vector())
    embedding_model: Mapped[str | None]
    embedding_dim: Mapped[int | None]


class OutboundChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"


class OutboundStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboundMessage(TenantTable):
    """A message the platform sends (an invoice email, a campaign email, an SMS reply).

    The default sender delivers into this outbox; a configured provider sender reads queued rows
    and marks them sent with the provider's id. `idempotency_key` makes a retried send one row.
    """

    __tablename__ = "outbound_messages"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "idempotency_key"),
        sa.Index(None, "workspace_id", "status", "created_at"),
        sa.Index(None, "workspace_id", "related_type", "related_id"),
    )
    channel: Mapped[OutboundChannel] = enum_column(OutboundChannel)
    recipient: Mapped[str]
    sender: Mapped[str | None]
    subject: Mapped[str | None]
    body: Mapped[str]
    status: Mapped[OutboundStatus] = enum_column(OutboundStatus, default=OutboundStatus.QUEUED)
    related_type: Mapped[str | None]
    related_id: Mapped[uuid.UUID | None]
    provider_message_id: Mapped[str | None]
    error: Mapped[str | None]
    sent_at: Mapped[datetime | None]
    idempotency_key: Mapped[str | None]
    meta: Mapped[JSON] = json_column()


class AccessKey(TenantTable):
    """A workspace access key for server-to-server calls: it acts as `user_id`, with that
    member's role, limited to its scopes (chat, read, admin). Only a SHA-256 of the secret is
    stored; the key is shown once, when it is created."""

    __tablename__ = "access_keys"
    __table_args__ = (sa.Index(None, "workspace_id", "user_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str]
    secret_hash: Mapped[str] = mapped_column(sa.String(64))
    last_four: Mapped[str] = mapped_column(sa.String(4))
    scopes: Mapped[list[str]] = json_column("[]")
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()


class RateLimitBucket(TenantTable):
    """One rate-limit bucket (the workspace's, or one user's): its theoretical arrival time
    (GCRA). One row per bucket, updated in one statement, so every API replica shares it."""

    __tablename__ = "rate_limit_buckets"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "bucket"),)
    bucket: Mapped[str]
    tat: Mapped[datetime]


class HttpIdempotency(TenantTable):
    """A request made with an `Idempotency-Key`: the request's hash and, once it is answered,
    the answer, so a retry returns the same result and stores nothing twice."""

    __tablename__ = "http_idempotency"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "user_id", "key"),
        sa.Index(None, "workspace_id", "created_at"),
    )
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str]
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status_code: Mapped[int | None]
    response: Mapped[JSON | None] = mapped_column(JSONB, nullable=True)
