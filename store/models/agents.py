"""Agents: a workspace's configured agents, their runs, schedules and logs, plus the global
marketplace (templates and packs) they are installed from.

A workspace's agent keeps `source_template_id` / `source_pack_id` so an install can be traced
back to the catalogue, but the agent's `config` is a copy: editing or withdrawing a template never
changes an installed agent.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    GlobalTable,
    TenantTable,
    counter_column,
    currency_column,
    enum_column,
    flag_column,
    json_column,
    money_column,
    tags_column,
    tenant_fk,
    user_fk,
)


class AgentType(enum.StrEnum):
    SCOPE = "scope"
    CALL = "call"
    EMAIL = "email"
    NOTE = "note"
    TASK = "task"
    ROADMAP = "roadmap"
    CONTENT = "content"
    CUSTOM = "custom"
    BROWSER = "browser"
    CROSS_APP = "cross_app"
    KNOWLEDGE = "knowledge"
    SALES = "sales"
    TRENDING = "trending"
    RESEARCH = "research"
    MEETING = "meeting"
    CODE = "code"
    DATA = "data"
    SECURITY = "security"


class AgentStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class ExecutionStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (
            ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED
        )


class ScheduleTrigger(enum.StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    WEBHOOK = "webhook"


class PricingType(enum.StrEnum):
    FREE = "free"
    ONE_TIME = "one_time"
    SUBSCRIPTION = "subscription"


def rating_column() -> Any:
    """A 0.00-5.00 star rating."""
    return mapped_column(sa.Numeric(3, 2), default=Decimal(0), server_default="0")


class AgentTemplate(GlobalTable):
    """A published, installable agent definition shared by every workspace."""

    __tablename__ = "agent_templates"
    __table_args__ = (
        sa.Index(None, "category"),
        sa.Index(None, "is_published", "trending_score"),
        sa.CheckConstraint("rating BETWEEN 0 AND 5", name="rating_stars"),
    )
    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True)
    description: Mapped[str | None]
    short_description: Mapped[str | None]
    category: Mapped[str]
    type: Mapped[AgentType] = enum_column(AgentType, default=AgentType.CUSTOM)
    icon_url: Mapped[str | None]
    cover_image_url: Mapped[str | None]
    badge_text: Mapped[str | None]
    config: Mapped[JSON] = json_column()
    kpis: Mapped[JSON] = json_column()
    author_id: Mapped[uuid.UUID | None] = user_fk()
    author_name: Mapped[str | None]
    tags: Mapped[list[str]] = tags_column()
    install_count: Mapped[int] = counter_column()
    rating: Mapped[Decimal] = rating_column()
    review_count: Mapped[int] = counter_column()
    installs_24h: Mapped[int] = counter_column()
    installs_7d: Mapped[int] = counter_column()
    installs_30d: Mapped[int] = counter_column()
    trending_score: Mapped[int] = counter_column()
    is_published: Mapped[bool] = flag_column(True)
    is_featured: Mapped[bool] = flag_column(False)
    published_at: Mapped[datetime | None]


class AgentPack(GlobalTable):
    """A bundle of agent templates installed together (e.g. a "Sales starter" pack)."""

    __tablename__ = "agent_packs"
    __table_args__ = (
        sa.Index(None, "category"),
        sa.CheckConstraint("rating BETWEEN 0 AND 5", name="rating_stars"),
        sa.CheckConstraint("price_cents >= 0", name="price_not_negative"),
    )
    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True)
    description: Mapped[str | None]
    category: Mapped[str]
    agent_templates: Mapped[list[JSON]] = json_column("[]")
    author_id: Mapped[uuid.UUID | None] = user_fk()
    author_name: Mapped[str | None]
    icon_url: Mapped[str | None]
    cover_image_url: Mapped[str | None]
    tags: Mapped[list[str]] = tags_column()
    pricing_type: Mapped[PricingType] = enum_column(PricingType, default=PricingType.FREE)
    price_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    install_count: Mapped[int] = counter_column()
    rating: Mapped[Decimal] = rating_column()
    review_count: Mapped[int] = counter_column()
    is_published: Mapped[bool] = flag_column(False)
    published_at: Mapped[datetime | None]


class Agent(TenantTable):
    __tablename__ = "agents"
    __table_args__ = (
        sa.Index(None, "workspace_id", "status"),
        sa.Index(None, "workspace_id", "type"),
        sa.Index(None, "workspace_id", "name"),
    )
    name: Mapped[str]
    description: Mapped[str | None]
    type: Mapped[AgentType] = enum_column(AgentType, default=AgentType.CUSTOM)
    status: Mapped[AgentStatus] = enum_column(AgentStatus, default=AgentStatus.DRAFT)
    config: Mapped[JSON] = json_column()
    source_template_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agent_templates.id", ondelete="SET NULL")
    )
    source_pack_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("agent_packs.id", ondelete="SET NULL")
    )
    is_custom: Mapped[bool] = flag_column(True)
    created_by: Mapped[uuid.UUID | None] = user_fk()
    version: Mapped[str] = mapped_column(default="1.0.0", server_default="1.0.0")
    execution_count: Mapped[int] = counter_column()
    last_executed_at: Mapped[datetime | None]


class AgentSchedule(TenantTable):
    """When an agent runs by itself: a cron expression (in `timezone`) or an inbound webhook.

    `next_run_at` is computed by the scheduler from `cron` and `timezone`; the store only keeps
    it so `due()` is one indexed range query. `encrypted_webhook_secret` is the envelope from
    `store.crypto` (as in `workspace_api_keys`), never the plain secret.
    """

    __tablename__ = "agent_schedules"
    __table_args__ = (
        tenant_fk("agents", "agent_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "agent_id"),
        sa.Index(None, "workspace_id", "next_run_at", postgresql_where=sa.text("enabled")),
        sa.CheckConstraint("trigger_type <> 'scheduled' OR cron IS NOT NULL", name="cron_required"),
    )
    agent_id: Mapped[uuid.UUID]
    trigger_type: Mapped[ScheduleTrigger] = enum_column(
        ScheduleTrigger, default=ScheduleTrigger.MANUAL
    )
    cron: Mapped[str | None]
    timezone: Mapped[str] = mapped_column(default="UTC", server_default="UTC")
    webhook_url: Mapped[str | None]
    encrypted_webhook_secret: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    input: Mapped[JSON] = json_column()
    enabled: Mapped[bool] = flag_column(True)
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_run_status: Mapped[ExecutionStatus | None] = enum_column(ExecutionStatus, nullable=True)


class AgentExecution(TenantTable):
    __tablename__ = "agent_executions"
    __table_args__ = (
        tenant_fk("agents", "agent_id", ondelete="CASCADE"),
        tenant_fk("agent_schedules", "schedule_id"),
        sa.Index(None, "workspace_id", "agent_id", "created_at"),
        sa.Index(None, "workspace_id", "status", "created_at"),
        sa.CheckConstraint("cost_cents >= 0", name="cost_not_negative"),
    )
    agent_id: Mapped[uuid.UUID]
    schedule_id: Mapped[uuid.UUID | None]
    triggered_by: Mapped[uuid.UUID | None] = user_fk()
    status: Mapped[ExecutionStatus] = enum_column(ExecutionStatus, default=ExecutionStatus.PENDING)
    input: Mapped[JSON] = json_column()
    output: Mapped[JSON | None]
    error: Mapped[JSON | None]
    duration_ms: Mapped[int | None]
    tokens_used: Mapped[int | None]
    cost_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class AgentLog(TenantTable):
    """One model call an agent made, summarised for monitoring (the map's `tenantId` is
    `workspace_id`; `timestamp` is `logged_at`)."""

    __tablename__ = "agent_logs"
    __table_args__ = (
        tenant_fk("agents", "agent_id"),
        tenant_fk("agent_executions", "execution_id"),
        sa.Index(None, "workspace_id", "agent_id", "logged_at"),
        sa.Index(None, "workspace_id", "logged_at"),
    )
    agent_id: Mapped[uuid.UUID | None]
    execution_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None] = user_fk()
    input_summary: Mapped[str | None]
    output_summary: Mapped[str | None]
    duration_ms: Mapped[int | None]
    success: Mapped[bool]
    provider: Mapped[str | None]
    model: Mapped[str | None]
    error: Mapped[str | None]
    details: Mapped[JSON] = json_column()
    logged_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
