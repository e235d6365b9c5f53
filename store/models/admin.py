"""Admin / system: feedback, the to-do HQ (sprints, epics, tasks), outgoing webhooks, audit log,
third-party integrations with their OAuth tokens, and product analytics events.

OAuth tokens are stored only as ciphertext (`*_encrypted`, the envelope `store.crypto` produces,
with `key_id` repeated for key rotation); this module never sees a plaintext token. The
`metadata` columns of the map are called `meta` because `metadata` is reserved on SQLAlchemy
declarative classes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
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


class FeedbackType(enum.StrEnum):
    BUG = "bug"
    SUGGESTION = "suggestion"
    GENERAL = "general"
    FEATURE_REQUEST = "feature_request"


class FeedbackStatus(enum.StrEnum):
    NEW = "new"
    IN_REVIEW = "in_review"
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CLOSED = "closed"
    WONT_FIX = "wont_fix"


class Sentiment(enum.StrEnum):
    VERY_NEGATIVE = "very_negative"
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"
    VERY_POSITIVE = "very_positive"


class TaskPriority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class SprintStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class EpicStatus(enum.StrEnum):
    NOT_STARTED = "not_started"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    ON_HOLD = "on_hold"


class TaskStatus(enum.StrEnum):
    TODO = "todo"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"

    @property
    def is_open(self) -> bool:
        return self in (TaskStatus.TODO, TaskStatus.IN_PROGRESS)


class IntegrationProvider(enum.StrEnum):
    GOOGLE = "google"
    MICROSOFT = "microsoft"
    SLACK = "slack"
    SALESFORCE = "salesforce"
    HUBSPOT = "hubspot"
    TWILIO = "twilio"
    SIGNALWIRE = "signalwire"
    OTHER = "other"


class IntegrationStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    ERROR = "error"
    EXPIRED = "expired"


class PlatformFeedback(TenantTable):
    __tablename__ = "platform_feedback"
    __table_args__ = (sa.Index(None, "workspace_id", "status", "type"),)
    user_id: Mapped[uuid.UUID | None] = user_fk()
    type: Mapped[FeedbackType] = enum_column(FeedbackType, default=FeedbackType.GENERAL)
    status: Mapped[FeedbackStatus] = enum_column(FeedbackStatus, default=FeedbackStatus.NEW)
    title: Mapped[str | None]
    description: Mapped[str]
    url: Mapped[str | None]
    user_agent: Mapped[str | None]
    sentiment: Mapped[Sentiment | None] = enum_column(Sentiment, nullable=True)
    priority: Mapped[TaskPriority] = enum_column(TaskPriority, default=TaskPriority.MEDIUM)
    assigned_to: Mapped[uuid.UUID | None] = user_fk()
    category: Mapped[str | None]
    screenshot_url: Mapped[str | None]
    meta: Mapped[JSON] = json_column()


class TodoHqSprint(TenantTable):
    __tablename__ = "todo_hq_sprints"
    __table_args__ = (
        sa.Index(None, "workspace_id", "status"),
        sa.CheckConstraint(
            "start_date IS NULL OR end_date IS NULL OR end_date >= start_date",
            name="ends_after_start",
        ),
    )
    name: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[SprintStatus] = enum_column(SprintStatus, default=SprintStatus.PLANNED)
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    goals: Mapped[list[str]] = tags_column()
    sort_order: Mapped[int] = counter_column()


class TodoHqEpic(TenantTable):
    __tablename__ = "todo_hq_epics"
    __table_args__ = (
        sa.Index(None, "workspace_id", "status"),
        sa.CheckConstraint(
            "target_completion_percent BETWEEN 0 AND 100", name="target_completion_percent"
        ),
    )
    name: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[EpicStatus] = enum_column(EpicStatus, default=EpicStatus.NOT_STARTED)
    target_completion_percent: Mapped[int] = mapped_column(default=100, server_default="100")
    tags: Mapped[list[str]] = tags_column()
    sort_order: Mapped[int] = counter_column()


class TodoHqTask(TenantTable):
    """A task; `completed_at` is set exactly when the task is done (a CHECK holds it to that)."""

    __tablename__ = "todo_hq_tasks"
    __table_args__ = (
        tenant_fk("todo_hq_epics", "epic_id"),
        tenant_fk("todo_hq_sprints", "sprint_id"),
        sa.Index(None, "workspace_id", "sprint_id", "status"),
        sa.Index(None, "workspace_id", "epic_id", "status"),
        sa.Index(None, "workspace_id", "status", "due_date"),
        sa.Index(None, "workspace_id", "assignee_id"),
        sa.CheckConstraint(
            "(status = 'done') = (completed_at IS NOT NULL)", name="completed_at_iff_done"
        ),
    )
    epic_id: Mapped[uuid.UUID | None]
    sprint_id: Mapped[uuid.UUID | None]
    assignee_id: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[TaskStatus] = enum_column(TaskStatus, default=TaskStatus.TODO)
    priority: Mapped[TaskPriority] = enum_column(TaskPriority, default=TaskPriority.MEDIUM)
    sort_order: Mapped[int] = counter_column()
    tags: Mapped[list[str]] = tags_column()
    notes: Mapped[str | None]
    due_date: Mapped[date | None]
    completed_at: Mapped[datetime | None]


class Webhook(TenantTable):
    """An outgoing webhook. `secret` is the HMAC signing key shared with the receiver."""

    __tablename__ = "webhooks"
    __table_args__ = (
        sa.Index(None, "workspace_id", "is_active"),
        sa.CheckConstraint(
            "success_count >= 0 AND failure_count >= 0", name="counts_not_negative"
        ),
    )
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    url: Mapped[str]
    #: Event names it receives; "*" means every event.
    events: Mapped[list[str]] = tags_column()
    secret: Mapped[str]
    is_active: Mapped[bool] = flag_column(True)
    last_triggered_at: Mapped[datetime | None]
    success_count: Mapped[int] = counter_column()
    failure_count: Mapped[int] = counter_column()


class WebhookDelivery(TenantTable):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        tenant_fk("webhooks", "webhook_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "webhook_id", "created_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )
    webhook_id: Mapped[uuid.UUID]
    event: Mapped[str]
    payload: Mapped[JSON] = json_column()
    response_status: Mapped[int | None]
    response_body: Mapped[str | None]
    success: Mapped[bool] = flag_column(False)
    attempts: Mapped[int] = counter_column()
    last_attempt_at: Mapped[datetime | None]
    error: Mapped[str | None]


class AuditLog(TenantTable):
    """Append-only record of who changed what. `entity_id` is text: not every entity is a UUID."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        sa.Index(None, "workspace_id", "entity_type", "entity_id", "created_at"),
        sa.Index(None, "workspace_id", "user_id", "created_at"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    action: Mapped[str]
    entity_type: Mapped[str]
    entity_id: Mapped[str | None]
    changes: Mapped[JSON] = json_column()
    ip_address: Mapped[str | None]
    user_agent: Mapped[str | None]
    meta: Mapped[JSON] = json_column()


class Integration(TenantTable):
    """A connected third-party account. `account_id` is the provider's id for it (a Slack team
    id, a Google account email); unique per workspace and provider."""

    __tablename__ = "integrations"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "provider", "account_id"),
        sa.Index(None, "workspace_id", "status"),
        sa.CheckConstraint("retry_count >= 0", name="retry_count_not_negative"),
    )
    provider: Mapped[IntegrationProvider] = enum_column(IntegrationProvider)
    account_id: Mapped[str | None]
    name: Mapped[str | None]
    status: Mapped[IntegrationStatus] = enum_column(
        IntegrationStatus, default=IntegrationStatus.ACTIVE
    )
    config: Mapped[JSON] = json_column()
    scopes: Mapped[list[str]] = tags_column()
    last_sync_at: Mapped[datetime | None]
    error_message: Mapped[str | None]
    retry_count: Mapped[int] = counter_column()
    connected_by: Mapped[uuid.UUID | None] = user_fk()


class OAuthToken(TenantTable):
    """The current token pair of one integration (one row per integration), encrypted."""

    __tablename__ = "oauth_tokens"
    __table_args__ = (
        tenant_fk("integrations", "integration_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "integration_id"),
        sa.Index(None, "workspace_id", "expires_at"),
    )
    integration_id: Mapped[uuid.UUID]
    access_token_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    refresh_token_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    key_id: Mapped[str]
    token_type: Mapped[str] = mapped_column(default="Bearer", server_default="Bearer")
    expires_at: Mapped[datetime | None]
    scopes: Mapped[list[str]] = tags_column()


class AnalyticsEvent(TenantTable):
    """A product analytics event. `occurred_at` is the map's `timestamp` (when it happened on the
    client), distinct from `created_at` (when it was stored)."""

    __tablename__ = "analytics_events"
    __table_args__ = (
        sa.Index(None, "workspace_id", "event", "occurred_at"),
        sa.Index(None, "workspace_id", "session_id"),
    )
    user_id: Mapped[uuid.UUID | None] = user_fk()
    session_id: Mapped[str | None]
    event: Mapped[str]
    page: Mapped[str | None]
    referrer: Mapped[str | None]
    user_agent: Mapped[str | None]
    data: Mapped[JSON] = json_column()
    occurred_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
