"""Argument and result models of the finance tools, and the money and period helpers they share.

Money crosses the tool boundary as `Decimal` major units (12000.50) of the record's currency and
is stored as integer cents; results show major units next to the currency code, never cents, so
the model cannot misread 1200050 as a price. Results carry the ids, names and numbers a model
needs to answer and to make its next call, not every column.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.models.finance import (
    Expense,
    ExpenseCategory,
    ExpenseStatus,
    Invoice,
    InvoiceStatus,
)
from tools.workspace import major_units, today

FROZEN = ConfigDict(frozen=True, extra="forbid")
#: Default payment term when an invoice is created without a due date.
PAYMENT_TERM_DAYS = 30

Amount = Annotated[Decimal, Field(max_digits=14, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
URL_PATTERN = r"^https?://\S+$"


# -- periods ---------------------------------------------------------------------------------


class Period(enum.StrEnum):
    THIS_MONTH = "this_month"
    LAST_MONTH = "last_month"
    THIS_QUARTER = "this_quarter"
    LAST_QUARTER = "last_quarter"
    THIS_YEAR = "this_year"
    LAST_YEAR = "last_year"
    LAST_30_DAYS = "last_30_days"
    CUSTOM = "custom"


def _quarter_start(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def period_bounds(period: Period, day: date) -> tuple[date, date]:
    """First and last day of a named period as seen on `day`; "this" periods end on `day`."""
    month_start = day.replace(day=1)
    quarter_start = _quarter_start(day)
    previous_quarter_end = quarter_start - timedelta(days=1)
    bounds = {
        Period.THIS_MONTH: (month_start, day),
        Period.LAST_MONTH: ((month_start - timedelta(days=1)).replace(day=1),
                            month_start - timedelta(days=1)),
        Period.THIS_QUARTER: (quarter_start, day),
        Period.LAST_QUARTER: (_quarter_start(previous_quarter_end), previous_quarter_end),
        Period.THIS_YEAR: (date(day.year, 1, 1), day),
        Period.LAST_YEAR: (date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)),
        Period.LAST_30_DAYS: (day - timedelta(days=29), day),
    }
    return bounds[period]


# -- invoices: arguments ---------------------------------------------------------------------


class LineItemIn(BaseModel):
    model_config = FROZEN

    description: str = Field(
        min_length=1, max_length=500, description="What is billed, e.g. 'Implementation (hours)'."
    )
    quantity: Decimal = Field(
        gt=0, le=1_000_000, max_digits=12, decimal_places=4,
        description="Number of units; may be fractional for hours, e.g. 7.5.",
    )
    unit_price: Amount = Field(
        ge=0, description="Price of one unit in major units of the invoice currency, e.g. 150.00."
    )
    tax_rate_percent: Decimal | None = Field(
        default=None, ge=0, le=100, max_digits=6, decimal_places=3,
        description="Tax on this line in percent (20 for 20% VAT); omit to use the invoice's rate.",
    )


class CreateInvoiceArgs(BaseModel):
    model_config = FROZEN

    customer_id: uuid.UUID | None = Field(
        default=None, description="Customer billed (from list_customers); defaults to the "
        "project's customer when project_id is given.",
    )
    project_id: uuid.UUID | None = Field(
        default=None, description="Project the work belongs to, if any."
    )
    line_items: list[LineItemIn] = Field(
        min_length=1, max_length=100, description="The lines of the invoice, at least one."
    )
    tax_rate_percent: Decimal = Field(
        default=Decimal(0), ge=0, le=100, max_digits=6, decimal_places=3,
        description="Tax in percent for lines that do not set their own, e.g. 8.25.",
    )
    due_date: date | None = Field(
        default=None,
        description=f"Day payment is due (today or later); default {PAYMENT_TERM_DAYS} days out.",
    )
    currency: Currency | None = Field(
        default=None, description="ISO currency code such as USD or EUR; default: the "
        "workspace's currency.",
    )
    notes: str | None = Field(
        default=None, max_length=2000, description="Note printed on the invoice, e.g. 'PO 4471'."
    )


class GetInvoiceArgs(BaseModel):
    model_config = FROZEN

    invoice_id: uuid.UUID | None = Field(default=None, description="The invoice's id.")
    invoice_number: str | None = Field(
        default=None, min_length=1, max_length=50,
        description="The invoice number instead of the id, e.g. 'INV-00042'.",
    )

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.invoice_id is None) == (self.invoice_number is None):
            raise ValueError("give exactly one of invoice_id or invoice_number")
        return self


class ListInvoicesArgs(BaseModel):
    model_config = FROZEN

    status: InvoiceStatus | None = Field(default=None, description="Only invoices in this status.")
    customer_id: uuid.UUID | None = Field(default=None, description="Only this customer's.")
    limit: int = Field(default=20, ge=1, le=100, description="How many to return, newest first.")


class SendInvoiceArgs(BaseModel):
    model_config = FROZEN

    invoice_id: uuid.UUID = Field(description="The invoice to send (from list_invoices).")
    to_email: str | None = Field(
        default=None, max_length=320, pattern=EMAIL_PATTERN,
        description="Recipient address; default: the customer's email.",
    )
    message: str | None = Field(
        default=None, max_length=2000, description="A short personal note above the invoice."
    )


class RecordPaymentArgs(BaseModel):
    model_config = FROZEN

    invoice_id: uuid.UUID = Field(description="The invoice that was paid (from list_invoices).")
    amount: Amount = Field(
        gt=0, description="Amount received in major units of the invoice currency, e.g. 500.00; "
        "at most the balance.",
    )
    paid_on: date | None = Field(
        default=None, description="Day the money arrived (not in the future); default today."
    )


class CancelInvoiceArgs(BaseModel):
    model_config = FROZEN

    invoice_id: uuid.UUID = Field(description="The invoice to void (from list_invoices).")
    reason: str | None = Field(
        default=None, max_length=500, description="Why it is cancelled; kept in the notes."
    )


class ListOverdueArgs(BaseModel):
    model_config = FROZEN

    limit: int = Field(default=20, ge=1, le=100, description="How many to return, oldest first.")


class FinanceSummaryArgs(BaseModel):
    model_config = FROZEN

    period: Period = Field(
        default=Period.THIS_MONTH, description="Named period, or 'custom' with start and end."
    )
    start: date | None = Field(default=None, description="First day, only with period=custom.")
    end: date | None = Field(default=None, description="Last day, only with period=custom.")
    currency: Currency | None = Field(
        default=None, description="Currency to report in; default the workspace's currency."
    )

    @model_validator(mode="after")
    def _custom_bounds(self) -> Self:
        custom = self.period == Period.CUSTOM
        if custom != (self.start is not None and self.end is not None):
            raise ValueError("period=custom needs start and end; other periods take neither")
        if not custom and (self.start or self.end):
            raise ValueError("start and end are only for period=custom")
        if self.start and self.end and self.end < self.start:
            raise ValueError("end is before start")
        return self


# -- expenses: arguments ---------------------------------------------------------------------


class SubmitExpenseArgs(BaseModel):
    model_config = FROZEN

    description: str = Field(
        min_length=1, max_length=500, description="What the money was for, e.g. 'Client dinner'."
    )
    amount: Amount = Field(gt=0, description="Amount spent in major units, e.g. 84.20.")
    currency: Currency | None = Field(
        default=None, description="ISO currency code; default the workspace's currency."
    )
    category: ExpenseCategory = Field(
        default=ExpenseCategory.OTHER, description="Expense category."
    )
    spent_on: date | None = Field(
        default=None, description="Day the money was spent (not in the future); default today."
    )
    vendor: str | None = Field(default=None, max_length=200, description="Who was paid.")
    receipt_url: str | None = Field(
        default=None, max_length=2000, pattern=URL_PATTERN,
        description="Link to the receipt image or PDF.",
    )
    project_id: uuid.UUID | None = Field(
        default=None, description="Project to charge it to, if any."
    )


class ExpenseRef(BaseModel):
    model_config = FROZEN

    expense_id: uuid.UUID = Field(description="The expense's id (from list_expenses).")


class RejectExpenseArgs(BaseModel):
    model_config = FROZEN

    expense_id: uuid.UUID = Field(description="The pending expense (from list_expenses).")
    reason: str = Field(
        min_length=1, max_length=500, description="Why it is rejected; the submitter sees it."
    )


class ListExpensesArgs(BaseModel):
    model_config = FROZEN

    status: ExpenseStatus | None = Field(
        default=None, description="Only this status, e.g. 'pending' for the approval queue."
    )
    category: ExpenseCategory | None = Field(default=None, description="Only this category.")
    project_id: uuid.UUID | None = Field(default=None, description="Only this project's.")
    only_mine: bool = Field(default=False, description="Only expenses the caller submitted.")
    limit: int = Field(default=20, ge=1, le=100, description="How many to return, newest first.")


# -- results ---------------------------------------------------------------------------------


class MoneyOut(BaseModel):
    amount: Decimal
    currency: str


class InvoiceOut(BaseModel):
    """An invoice as the model sees it: amounts in major units of `currency`."""

    id: uuid.UUID
    invoice_number: str
    status: InvoiceStatus
    customer_id: uuid.UUID | None
    customer_name: str | None
    currency: str
    subtotal: Decimal
    tax: Decimal
    total: Decimal
    amount_paid: Decimal
    balance: Decimal
    issue_date: date
    due_date: date | None
    days_overdue: int | None = Field(description="Days past due while unpaid, else null.")
    sent_at: datetime | None
    paid_at: datetime | None

    @classmethod
    def of(cls, invoice: Invoice, customer_name: str | None = None) -> InvoiceOut:
        late = (today() - invoice.due_date).days if invoice.due_date else 0
        unpaid = invoice.status in (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
        return cls(
            id=invoice.id, invoice_number=invoice.invoice_number, status=invoice.status,
            customer_id=invoice.customer_id, customer_name=customer_name,
            currency=invoice.currency, subtotal=major_units(invoice.amount_cents),
            tax=major_units(invoice.tax_cents), total=major_units(invoice.total_cents),
            amount_paid=major_units(invoice.amount_paid_cents),
            balance=major_units(invoice.balance_cents), issue_date=invoice.issue_date,
            due_date=invoice.due_date, days_overdue=late if unpaid and late > 0 else None,
            sent_at=invoice.sent_at, paid_at=invoice.paid_at,
        )


class LineItemOut(BaseModel):
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate_percent: Decimal
    subtotal: Decimal


class InvoiceDetail(InvoiceOut):
    project_id: uuid.UUID | None
    notes: str | None
    line_items: list[LineItemOut]

    @classmethod
    def detail(cls, invoice: Invoice, customer_name: str | None = None) -> InvoiceDetail:
        lines = [
            LineItemOut(
                description=item.description, quantity=Decimal(str(item.quantity)),
                unit_price=major_units(item.unit_price_cents),
                tax_rate_percent=Decimal(str(item.tax_rate_percent)),
                subtotal=major_units(item.subtotal_cents),
            )
            for item in invoice.items()
        ]
        base = InvoiceOut.of(invoice, customer_name).model_dump()
        return cls(**base, project_id=invoice.project_id, notes=invoice.notes, line_items=lines)


class InvoiceResult(BaseModel):
    invoice: InvoiceDetail


class InvoiceList(BaseModel):
    invoices: list[InvoiceOut]
    total: int = Field(description="How many invoices match, beyond this page too.")
    has_more: bool


class SendInvoiceResult(BaseModel):
    invoice: InvoiceOut
    recipient: str
    message_id: uuid.UUID = Field(description="The queued outbound email.")
    reminder: bool = Field(description="True when the invoice had already been sent before.")


class PaymentResult(BaseModel):
    invoice: InvoiceOut
    amount_recorded: MoneyOut
    fully_paid: bool


class OverdueInvoices(BaseModel):
    invoices: list[InvoiceOut]
    total: int = Field(description="How many invoices are overdue in all.")
    at_risk: list[MoneyOut] = Field(description="Unpaid balance of all of them, per currency.")


class CategoryTotal(BaseModel):
    category: ExpenseCategory
    amount: Decimal


class StatusTotal(BaseModel):
    status: ExpenseStatus
    amount: Decimal


class FinanceSummaryResult(BaseModel):
    start: date
    end: date
    currency: str
    invoiced: Decimal = Field(description="Total of invoices issued in the period (not drafts).")
    collected: Decimal = Field(description="Paid so far on those invoices.")
    outstanding: Decimal = Field(description="Still owed on those invoices.")
    expenses: Decimal = Field(description="Expenses dated in the period, rejected ones excluded.")
    net: Decimal = Field(description="Collected minus expenses.")
    expenses_by_category: list[CategoryTotal]
    expenses_by_status: list[StatusTotal]


class ExpenseOut(BaseModel):
    id: uuid.UUID
    description: str
    amount: Decimal
    currency: str
    category: ExpenseCategory
    status: ExpenseStatus
    spent_on: date
    vendor: str | None
    project_id: uuid.UUID | None
    submitted_by: uuid.UUID | None
    approved_by: uuid.UUID | None
    rejection_reason: str | None

    @classmethod
    def of(cls, expense: Expense) -> ExpenseOut:
        return cls(
            id=expense.id, description=expense.description,
            amount=major_units(expense.amount_cents), currency=expense.currency,
            category=expense.category, status=expense.status, spent_on=expense.date,
            vendor=expense.vendor, project_id=expense.project_id,
            submitted_by=expense.submitted_by, approved_by=expense.approved_by,
            rejection_reason=expense.rejection_reason,
        )


class ExpenseResult(BaseModel):
    expense: ExpenseOut


class ExpenseList(BaseModel):
    expenses: list[ExpenseOut]
    total: int = Field(description="How many expenses match, beyond this page too.")
    has_more: bool
