"""Finance: invoices and expenses.

An invoice's `amount_cents` is the amount before tax and `tax_cents` the tax on it; the database
computes `total_cents` (amount + tax), so sums over totals happen in SQL and can never disagree
with the parts. `amount_paid_cents` grows with each (partial) payment; the invoice is paid when
it reaches the total.

Line items are JSONB, but every write goes through the `LineItem` pydantic model (ORM writes via
`@validates`, bulk inserts via the repository), so the column only ever holds well-formed items.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from sqlalchemy.orm import Mapped, mapped_column, validates

from store.errors import InvalidArgument
from store.models.base import (
    TenantTable,
    currency_column,
    enum_column,
    json_column,
    money_column,
    tenant_fk,
    user_fk,
)


class InvoiceStatus(enum.StrEnum):
    DRAFT = "draft"
    SENT = "sent"
    PAID = "paid"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class ExpenseCategory(enum.StrEnum):
    TRAVEL = "travel"
    MEALS = "meals"
    SOFTWARE = "software"
    HARDWARE = "hardware"
    MARKETING = "marketing"
    OFFICE = "office"
    UTILITIES = "utilities"
    PROFESSIONAL_SERVICES = "professional_services"
    TRAINING = "training"
    OTHER = "other"


class ExpenseStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    REIMBURSED = "reimbursed"


def _cents(value: Decimal) -> int:
    """Round half away from zero to whole cents, the way invoices are usually rounded."""
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


class LineItem(BaseModel):
    """One invoice line. Quantities may be fractional (hours); prices are integer cents."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str = Field(min_length=1, max_length=500)
    quantity: float = Field(gt=0, le=1_000_000)
    unit_price_cents: int = Field(ge=0)
    tax_rate_percent: float = Field(default=0, ge=0, le=100)

    @property
    def subtotal_cents(self) -> int:
        return _cents(Decimal(str(self.quantity)) * self.unit_price_cents)

    @property
    def tax_cents(self) -> int:
        return _cents(Decimal(self.subtotal_cents) * Decimal(str(self.tax_rate_percent)) / 100)


@dataclass(frozen=True)
class InvoiceTotals:
    amount_cents: int
    tax_cents: int

    @property
    def total_cents(self) -> int:
        return self.amount_cents + self.tax_cents


_LINE_ITEMS = TypeAdapter(list[LineItem])


def parse_line_items(raw: Any) -> list[LineItem]:
    """Validate raw line items (dicts or LineItem objects); bad input is an InvalidArgument."""
    try:
        return _LINE_ITEMS.validate_python(raw)
    except ValidationError as error:
        raise InvalidArgument(f"invalid invoice line items: {_describe(error)}") from error


def normalize_line_items(raw: Any) -> list[dict[str, Any]]:
    """Validated line items in the JSON form the column stores."""
    return [item.model_dump(mode="json") for item in parse_line_items(raw)]


def line_item_totals(items: list[LineItem]) -> InvoiceTotals:
    """Amount and tax of an invoice from its lines; tax is rounded per line, then summed."""
    return InvoiceTotals(
        amount_cents=sum(item.subtotal_cents for item in items),
        tax_cents=sum(item.tax_cents for item in items),
    )


def _describe(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in error.errors()
    )


class Invoice(TenantTable):
    __tablename__ = "invoices"
    # Fetch total_cents (computed by PostgreSQL) with RETURNING after every insert and update,
    # so reading it never needs a lazy load.
    __mapper_args__ = {"eager_defaults": True}
    __table_args__ = (
        tenant_fk("customers", "customer_id"),
        tenant_fk("projects", "project_id"),
        sa.UniqueConstraint("workspace_id", "invoice_number"),
        sa.Index(None, "workspace_id", "status", "due_date"),
        sa.Index(None, "workspace_id", "customer_id"),
        sa.Index(None, "workspace_id", "issue_date"),
        sa.CheckConstraint("amount_cents >= 0 AND tax_cents >= 0", name="amounts_not_negative"),
        sa.CheckConstraint(
            "amount_paid_cents >= 0 AND amount_paid_cents <= amount_cents + tax_cents",
            name="paid_within_total",
        ),
    )
    customer_id: Mapped[uuid.UUID | None]
    project_id: Mapped[uuid.UUID | None]
    invoice_number: Mapped[str]
    status: Mapped[InvoiceStatus] = enum_column(InvoiceStatus, default=InvoiceStatus.DRAFT)
    amount_cents: Mapped[int] = money_column()
    tax_cents: Mapped[int] = money_column()
    total_cents: Mapped[int] = mapped_column(
        sa.BigInteger, sa.Computed("amount_cents + tax_cents", persisted=True)
    )
    amount_paid_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    issue_date: Mapped[date] = mapped_column(server_default=sa.func.current_date(), default=None)
    due_date: Mapped[date | None]
    sent_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    notes: Mapped[str | None]
    line_items: Mapped[list[Any]] = json_column(default="[]")
    created_by: Mapped[uuid.UUID | None] = user_fk()

    @validates("line_items")
    def _validate_line_items(self, _key: str, value: Any) -> list[dict[str, Any]]:
        return normalize_line_items(value)

    @property
    def balance_cents(self) -> int:
        """What the customer still owes (amount + tax - paid)."""
        return self.amount_cents + self.tax_cents - self.amount_paid_cents

    def items(self) -> list[LineItem]:
        return parse_line_items(self.line_items)


class Expense(TenantTable):
    __tablename__ = "expenses"
    __table_args__ = (
        tenant_fk("projects", "project_id"),
        sa.Index(None, "workspace_id", "status", "submitted_at"),
        sa.Index(None, "workspace_id", "date"),
        sa.Index(None, "workspace_id", "project_id"),
        sa.CheckConstraint("amount_cents > 0", name="amount_positive"),
    )
    project_id: Mapped[uuid.UUID | None]
    submitted_by: Mapped[uuid.UUID | None] = user_fk()
    description: Mapped[str]
    amount_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()
    category: Mapped[ExpenseCategory] = enum_column(ExpenseCategory, default=ExpenseCategory.OTHER)
    status: Mapped[ExpenseStatus] = enum_column(ExpenseStatus, default=ExpenseStatus.PENDING)
    #: The day the money was spent (what reports group by).
    date: Mapped[date] = mapped_column(server_default=sa.func.current_date(), default=None)
    #: When it entered the approval queue (what "pending for N days" measures).
    submitted_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    receipt: Mapped[str | None]  # URL of the receipt image or PDF
    vendor: Mapped[str | None]
    approved_by: Mapped[uuid.UUID | None] = user_fk()
    approved_at: Mapped[datetime | None]
    rejection_reason: Mapped[str | None]
    reimbursed_at: Mapped[datetime | None]
