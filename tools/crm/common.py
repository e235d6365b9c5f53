"""What the CRM tools share: money and currency arguments, argument helpers, output models.

Money arguments are `Decimal` amounts in major units (12000.50) with at most two decimals; the
store keeps integer cents plus an ISO currency, and outputs show major units next to the
currency. Output models carry what a model needs to answer and to call the next tool (ids,
names, amounts, dates), not every column.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field

from store.errors import InvalidArgument
from store.models.crm import (
    Contact,
    ContactStatus,
    CrmInteraction,
    Customer,
    CustomerStatus,
    Deal,
    DealStage,
    Direction,
    InteractionType,
    Priority,
    Project,
    ProjectStatus,
    Prospect,
    ProspectStage,
)
from tools.context import ToolContext
from tools.workspace import major_units, require_member, workspace_currency

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
STAGE_PROBABILITY = {
    DealStage.QUALIFICATION: 10, DealStage.DISCOVERY: 25, DealStage.PROPOSAL: 50,
    DealStage.NEGOTIATION: 75, DealStage.CLOSED_WON: 100, DealStage.CLOSED_LOST: 0,
}
PROSPECT_PROBABILITY = {
    ProspectStage.NEW: 10, ProspectStage.CONTACTED: 20, ProspectStage.QUALIFIED: 40,
    ProspectStage.PROPOSAL: 60, ProspectStage.NEGOTIATION: 80, ProspectStage.WON: 100,
    ProspectStage.LOST: 0,
}

CONTACT_FIELDS = ("first_name", "last_name", "email", "phone", "company", "job_title", "source",
                  "status", "tags", "owner_id", "last_contacted_at")
DEAL_FIELDS = ("name", "contact_id", "value_cents", "currency", "stage", "priority",
               "probability", "expected_close_date", "actual_close_date", "owner_id", "source",
               "notes", "lost_reason")
INTERACTION_FIELDS = ("contact_id", "deal_id", "type", "direction", "subject", "content",
                      "outcome", "duration_seconds", "scheduled_at", "completed_at", "user_id")
PROSPECT_FIELDS = ("name", "contact_id", "stage", "value_cents", "currency", "probability",
                   "expected_close_date", "owner_id", "source", "notes", "converted_customer_id")
CUSTOMER_FIELDS = ("name", "email", "phone", "company", "status", "assigned_to", "tags", "notes",
                   "currency")
PROJECT_FIELDS = ("name", "customer_id", "description", "status", "budget_cents", "currency",
                  "start_date", "end_date", "actual_end_date", "manager_id")


def _upper(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


Currency = Annotated[str, BeforeValidator(_upper), Field(pattern=r"^[A-Z]{3}$")]
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Email = Annotated[str, Field(max_length=254, pattern=EMAIL_PATTERN)]
Tags = Annotated[list[Annotated[str, Field(min_length=1, max_length=50)]], Field(max_length=20)]
Cursor = Annotated[
    str | None, Field(max_length=500, description="`next_cursor` of a previous page, to go on.")
]


async def currency_or_default(ctx: ToolContext, currency: str | None) -> str:
    return currency if currency is not None else await workspace_currency(ctx)


def given(args: BaseModel, *exclude: str) -> dict[str, Any]:
    """The arguments the caller actually gave a value (None means "leave unchanged")."""
    return {
        name: getattr(args, name) for name in args.model_fields_set
        if name not in exclude and getattr(args, name) is not None
    }


def require_changes(values: dict[str, Any]) -> dict[str, Any]:
    """Refuse an update that would change nothing: the model likely lost its arguments."""
    if not values:
        raise InvalidArgument("nothing to change: give at least one field (or `clear`)")
    return values


def cleared(fields: Iterable[str]) -> dict[str, Any]:
    """`{field: None}` for each field the caller asked to empty."""
    return {name: None for name in fields}


async def check_members(ctx: ToolContext, values: dict[str, Any], *fields: str) -> None:
    """Every person-id field present in `values` must be an active member of this workspace."""
    for name in fields:
        if values.get(name) is not None:
            await require_member(ctx, values[name])


def check_dates(start: date | None, end: date | None, what: str = "end_date") -> None:
    if start is not None and end is not None and end < start:
        raise InvalidArgument(f"{what} ({end}) is before the start date ({start})")


def append_note(existing: str | None, note: str, when: date) -> str:
    """Add a dated line to free-text notes, keeping what was there."""
    line = f"[{when.isoformat()}] {note.strip()}"
    return f"{existing.rstrip()}\n{line}" if existing else line


# -- output models ----------------------------------------------------------------------------


class ContactOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    company: str | None
    job_title: str | None
    status: ContactStatus
    tags: list[str]
    lead_score: int
    owner_id: uuid.UUID | None
    last_contacted_at: datetime | None

    @classmethod
    def of(cls, row: Contact) -> ContactOut:
        return cls(id=row.id, name=row.full_name, email=row.email, phone=row.phone,
                   company=row.company, job_title=row.job_title, status=row.status,
                   tags=list(row.tags), lead_score=row.lead_score, owner_id=row.owner_id,
                   last_contacted_at=row.last_contacted_at)


class DealOut(BaseModel):
    id: uuid.UUID
    name: str
    stage: DealStage
    value: Decimal = Field(description="Major units of `currency`.")
    currency: str
    probability: int = Field(description="Percent chance of winning.")
    priority: Priority
    expected_close_date: date | None
    actual_close_date: date | None
    contact_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    owner_name: str | None = None

    @classmethod
    def of(cls, row: Deal, names: dict[uuid.UUID, str] | None = None) -> DealOut:
        owner = (names or {}).get(row.owner_id) if row.owner_id else None
        return cls(id=row.id, name=row.name, stage=row.stage, value=major_units(row.value_cents),
                   currency=row.currency, probability=row.probability, priority=row.priority,
                   expected_close_date=row.expected_close_date,
                   actual_close_date=row.actual_close_date, contact_id=row.contact_id,
                   owner_id=row.owner_id, owner_name=owner)


class InteractionOut(BaseModel):
    id: uuid.UUID
    contact_id: uuid.UUID
    deal_id: uuid.UUID | None
    type: InteractionType
    direction: Direction | None
    subject: str | None
    content: str | None
    outcome: str | None
    duration_seconds: int | None
    happened_at: datetime = Field(description="When it happened (or is scheduled).")
    scheduled: bool = Field(description="True when it is planned, not yet done.")

    @classmethod
    def of(cls, row: CrmInteraction) -> InteractionOut:
        when = row.completed_at or row.scheduled_at or row.created_at
        return cls(id=row.id, contact_id=row.contact_id, deal_id=row.deal_id, type=row.type,
                   direction=row.direction, subject=row.subject, content=row.content,
                   outcome=row.outcome, duration_seconds=row.duration_seconds, happened_at=when,
                   scheduled=row.completed_at is None and row.scheduled_at is not None)


class ProspectOut(BaseModel):
    id: uuid.UUID
    name: str
    stage: ProspectStage
    value: Decimal = Field(description="Major units of `currency`.")
    currency: str
    probability: int
    expected_close_date: date | None
    contact_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    converted_customer_id: uuid.UUID | None
    notes: str | None

    @classmethod
    def of(cls, row: Prospect) -> ProspectOut:
        return cls(id=row.id, name=row.name, stage=row.stage, value=major_units(row.value_cents),
                   currency=row.currency, probability=row.probability,
                   expected_close_date=row.expected_close_date, contact_id=row.contact_id,
                   owner_id=row.owner_id, converted_customer_id=row.converted_customer_id,
                   notes=row.notes)


class CustomerOut(BaseModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    company: str | None
    status: CustomerStatus
    assigned_to: uuid.UUID | None
    tags: list[str]
    lifetime_value: Decimal = Field(description="Major units of `currency`.")
    currency: str

    @classmethod
    def of(cls, row: Customer) -> CustomerOut:
        return cls(id=row.id, name=row.name, email=row.email, phone=row.phone,
                   company=row.company, status=row.status, assigned_to=row.assigned_to,
                   tags=list(row.tags), lifetime_value=major_units(row.lifetime_value_cents),
                   currency=row.currency)


class ProjectOut(BaseModel):
    id: uuid.UUID
    name: str
    status: ProjectStatus
    customer_id: uuid.UUID | None
    description: str | None
    budget: Decimal = Field(description="Major units of `currency`.")
    currency: str
    start_date: date | None
    end_date: date | None
    actual_end_date: date | None
    manager_id: uuid.UUID | None

    @classmethod
    def of(cls, row: Project) -> ProjectOut:
        return cls(id=row.id, name=row.name, status=row.status, customer_id=row.customer_id,
                   description=row.description, budget=major_units(row.budget_cents),
                   currency=row.currency, start_date=row.start_date, end_date=row.end_date,
                   actual_end_date=row.actual_end_date, manager_id=row.manager_id)


class DeletedResult(BaseModel):
    deleted_id: uuid.UUID
    name: str
    detail: str = Field(description="What else the deletion removed or unlinked.")


def owner_ids(rows: Iterable[Deal]) -> list[uuid.UUID | None]:
    return [row.owner_id for row in rows]
