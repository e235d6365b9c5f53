"""CRM: contacts, deals, interactions, prospects, customers, projects."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    currency_column,
    enum_column,
    json_column,
    money_column,
    tags_column,
    tenant_fk,
    user_fk,
)


class ContactStatus(enum.StrEnum):
    LEAD = "lead"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CUSTOMER = "customer"
    CHURNED = "churned"


class DealStage(enum.StrEnum):
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"

    @property
    def is_open(self) -> bool:
        return self not in (DealStage.CLOSED_WON, DealStage.CLOSED_LOST)


class Priority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class InteractionType(enum.StrEnum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"
    TASK = "task"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    LINKEDIN = "linkedin"


class Direction(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"


class ProspectStage(enum.StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    WON = "won"
    LOST = "lost"


class CustomerStatus(enum.StrEnum):
    LEAD = "lead"
    ACTIVE = "active"
    INACTIVE = "inactive"
    CHURNED = "churned"


class ProjectStatus(enum.StrEnum):
    PLANNING = "planning"
    IN_PROGRESS = "in_progress"
    ON_HOLD = "on_hold"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class Contact(TenantTable):
    __tablename__ = "contacts"
    __table_args__ = (
        sa.Index(None, "workspace_id", "email"),
        sa.Index(None, "workspace_id", "status"),
        sa.Index(None, "workspace_id", "last_name", "first_name"),
    )
    owner_id: Mapped[uuid.UUID | None] = user_fk()
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    company: Mapped[str | None]
    job_title: Mapped[str | None]
    source: Mapped[str | None]
    status: Mapped[ContactStatus] = enum_column(ContactStatus, default=ContactStatus.LEAD)
    tags: Mapped[list[str]] = tags_column()
    custom_fields: Mapped[JSON] = json_column()
    last_contacted_at: Mapped[datetime | None]
    lead_score: Mapped[int] = mapped_column(default=0, server_default="0")

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (self.email or "")


class Deal(TenantTable):
    __tablename__ = "deals"
    __table_args__ = (
        tenant_fk("contacts", "contact_id"),
        sa.Index(None, "workspace_id", "stage"),
        sa.Index(None, "workspace_id", "expected_close_date"),
        sa.Index(None, "workspace_id", "contact_id"),
        sa.CheckConstraint("value_cents >= 0", name="value_not_negative"),
        sa.CheckConstraint("probability BETWEEN 0 AND 100", name="probability_percent"),
    )
    contact_id: Mapped[uuid.UUID | None]
    name: Mapped[str]
    value_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    stage: Mapped[DealStage] = enum_column(DealStage, default=DealStage.QUALIFICATION)
    priority: Mapped[Priority] = enum_column(Priority, default=Priority.MEDIUM)
    probability: Mapped[int] = mapped_column(default=10, server_default="10")
    expected_close_date: Mapped[date | None]
    actual_close_date: Mapped[date | None]
    owner_id: Mapped[uuid.UUID | None] = user_fk()
    source: Mapped[str | None]
    notes: Mapped[str | None]
    lost_reason: Mapped[str | None]
    custom_fields: Mapped[JSON] = json_column()
    stage_changed_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)


class CrmInteraction(TenantTable):
    __tablename__ = "crm_interactions"
    __table_args__ = (
        tenant_fk("contacts", "contact_id", ondelete="CASCADE"),
        tenant_fk("deals", "deal_id"),
        tenant_fk("agents", "agent_id"),
        sa.Index(None, "workspace_id", "contact_id", "created_at"),
    )
    contact_id: Mapped[uuid.UUID]
    deal_id: Mapped[uuid.UUID | None]
    type: Mapped[InteractionType] = enum_column(InteractionType)
    direction: Mapped[Direction | None] = enum_column(Direction, nullable=True)
    subject: Mapped[str | None]
    content: Mapped[str | None]
    outcome: Mapped[str | None]
    duration_seconds: Mapped[int | None]
    scheduled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    agent_id: Mapped[uuid.UUID | None]
    user_id: Mapped[uuid.UUID | None] = user_fk()


class Prospect(TenantTable):
    __tablename__ = "prospects"
    __table_args__ = (
        tenant_fk("contacts", "contact_id"),
        tenant_fk("customers", "converted_customer_id"),
        sa.Index(None, "workspace_id", "stage"),
    )
    contact_id: Mapped[uuid.UUID | None]
    name: Mapped[str]
    stage: Mapped[ProspectStage] = enum_column(ProspectStage, default=ProspectStage.NEW)
    value_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    probability: Mapped[int] = mapped_column(default=10, server_default="10")
    expected_close_date: Mapped[date | None]
    owner_id: Mapped[uuid.UUID | None] = user_fk()
    source: Mapped[str | None]
    notes: Mapped[str | None]
    converted_customer_id: Mapped[uuid.UUID | None]


class Customer(TenantTable):
    __tablename__ = "customers"
    __table_args__ = (
        sa.Index(None, "workspace_id", "status"),
        sa.Index(None, "workspace_id", "name"),
    )
    name: Mapped[str]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    company: Mapped[str | None]
    status: Mapped[CustomerStatus] = enum_column(CustomerStatus, default=CustomerStatus.ACTIVE)
    assigned_to: Mapped[uuid.UUID | None] = user_fk()
    tags: Mapped[list[str]] = tags_column()
    notes: Mapped[str | None]
    lifetime_value_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    last_order_at: Mapped[datetime | None]


class Project(TenantTable):
    __tablename__ = "projects"
    __table_args__ = (
        tenant_fk("customers", "customer_id"),
        sa.Index(None, "workspace_id", "status"),
    )
    customer_id: Mapped[uuid.UUID | None]
    name: Mapped[str]
    description: Mapped[str | None]
    status: Mapped[ProjectStatus] = enum_column(ProjectStatus, default=ProjectStatus.PLANNING)
    budget_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    actual_end_date: Mapped[date | None]
    manager_id: Mapped[uuid.UUID | None] = user_fk()
