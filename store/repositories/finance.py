"""Finance repositories: invoices (numbering, payments, overdue) and expenses (approval queue).

State changes (payment, approval) lock the row first (`SELECT ... FOR UPDATE`), so two tools
recording a payment for the same invoice at once cannot both read the old balance.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.finance import (
    Expense,
    ExpenseCategory,
    ExpenseStatus,
    Invoice,
    InvoiceStatus,
    line_item_totals,
    normalize_line_items,
    parse_line_items,
)
from store.pagination import Page
from store.repositories.base import Repository, utcnow

INVOICE_PREFIX = "INV-"
#: Invoices a customer still owes money on.
OPEN_INVOICE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
#: Invoices that count as issued (a draft was never sent; a cancelled one is void).
ISSUED_INVOICE_STATUSES = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE, InvoiceStatus.PAID)


@dataclass(frozen=True)
class OverdueInvoices:
    invoices: list[Invoice]
    #: Unpaid balance per currency (amounts in different currencies are never added up).
    at_risk_cents: dict[str, int]


@dataclass(frozen=True)
class FinanceSummary:
    start: date
    end: date
    currency: str
    invoiced_cents: int
    collected_cents: int
    outstanding_cents: int
    expenses_cents: int
    expenses_by_category: dict[ExpenseCategory, int]
    expenses_by_status: dict[ExpenseStatus, int]

    @property
    def net_cents(self) -> int:
        """Collected minus expenses that were not rejected."""
        rejected = self.expenses_by_status.get(ExpenseStatus.REJECTED, 0)
        return self.collected_cents - (self.expenses_cents - rejected)


def _with_totals(values: Mapping[str, Any]) -> dict[str, Any]:
    """Validate line items and, unless the caller set them, derive amount and tax from them."""
    out = dict(values)
    if out.get("line_items") is not None:
        items = parse_line_items(out["line_items"])
        out["line_items"] = normalize_line_items(items)
        totals = line_item_totals(items)
        out.setdefault("amount_cents", totals.amount_cents)
        out.setdefault("tax_cents", totals.tax_cents)
    return out


class InvoiceRepository(Repository[Invoice]):
    model = Invoice
    sortable = frozenset({"created_at", "updated_at", "issue_date", "total_cents"})
    archive_values = {"status": InvoiceStatus.CANCELLED}

    async def create(self, **values: Any) -> Invoice:
        """Create an invoice; totals come from line items and the number from the sequence
        unless given."""
        values = _with_totals(values)
        if not values.get("invoice_number"):
            values["invoice_number"] = await self.next_invoice_number()
        return await super().create(**values)

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        prepared = [_with_totals(row) for row in rows]
        if any(not row.get("invoice_number") for row in prepared):
            raise InvalidArgument("bulk-created invoices need explicit invoice numbers")
        return await super().create_many(prepared)

    async def update(self, row_id: uuid.UUID, **values: Any) -> Invoice:
        return await super().update(row_id, **_with_totals(values))

    async def by_number(self, invoice_number: str) -> Invoice:
        rows = await self._all(Invoice.invoice_number == invoice_number, limit=1)
        if not rows:
            raise NotFound("invoice", invoice_number)
        return rows[0]

    async def next_invoice_number(self) -> str:
        """`INV-00042` after the highest `INV-<digits>` of this workspace (others are ignored).

        Two concurrent callers can get the same number; the unique constraint then turns the
        second insert into a Conflict rather than a duplicate.
        """
        suffix = sa.func.substring(Invoice.invoice_number, r"^INV-([0-9]{1,12})$")
        stmt = self.select().with_only_columns(sa.func.max(sa.cast(suffix, sa.BigInteger)))
        highest = await self.session.scalar(stmt)
        return f"{INVOICE_PREFIX}{(highest or 0) + 1:05d}"

    async def search(
        self, *, status: InvoiceStatus | None = None, customer_id: uuid.UUID | None = None,
        project_id: uuid.UUID | None = None, limit: int = 20, cursor: str | None = None,
    ) -> Page[Invoice]:
        where: list[sa.ColumnElement[bool]] = []
        if status is not None:
            where.append(Invoice.status == status)
        if customer_id is not None:
            where.append(Invoice.customer_id == customer_id)
        if project_id is not None:
            where.append(Invoice.project_id == project_id)
        return await self._page(*where, limit=limit, cursor=cursor, sort="issue_date")

    async def overdue(self, today: date | None = None) -> OverdueInvoices:
        """Sent or overdue invoices past their due date, oldest due first, with the balance
        still owed per currency."""
        day = today or utcnow().date()
        rows = await self._all(
            Invoice.status.in_(OPEN_INVOICE_STATUSES), Invoice.due_date < day,
            order_by=[Invoice.due_date, Invoice.id],
        )
        at_risk: dict[str, int] = {}
        for invoice in rows:
            at_risk[invoice.currency] = at_risk.get(invoice.currency, 0) + invoice.balance_cents
        return OverdueInvoices(invoices=rows, at_risk_cents=at_risk)

    async def mark_overdue(self, today: date | None = None) -> int:
        """Flip sent invoices past their due date to overdue (a daily job); returns how many."""
        day = today or utcnow().date()
        stmt = (
            sa.update(Invoice)
            .where(
                Invoice.workspace_id == self.scope.workspace_id,
                Invoice.status == InvoiceStatus.SENT,
                Invoice.due_date < day,
            )
            .values(status=InvoiceStatus.OVERDUE, updated_at=sa.func.now())
            .returning(Invoice.id)
            .execution_options(synchronize_session="fetch")
        )
        return len((await self.session.execute(stmt)).all())

    async def send(self, invoice_id: uuid.UUID, *, sent_at: datetime | None = None) -> Invoice:
        """Mark a draft as sent (the delivery itself is the caller's job)."""
        invoice = await self._locked(invoice_id)
        if invoice.status != InvoiceStatus.DRAFT:
            raise Conflict(f"invoice {invoice.invoice_number} is {invoice.status}, not draft")
        if invoice.total_cents <= 0:
            raise InvalidArgument(f"invoice {invoice.invoice_number} has nothing to charge")
        return await self.update(invoice_id, status=InvoiceStatus.SENT, sent_at=sent_at or utcnow())

    async def record_payment(
        self, invoice_id: uuid.UUID, amount_cents: int, *, paid_at: datetime | None = None
    ) -> Invoice:
        """Add a (partial) payment; the invoice becomes paid when nothing is left to pay."""
        if amount_cents <= 0:
            raise InvalidArgument(f"payment must be positive, got {amount_cents} cents")
        invoice = await self._locked(invoice_id)
        if invoice.status not in OPEN_INVOICE_STATUSES:
            raise Conflict(
                f"invoice {invoice.invoice_number} is {invoice.status}; "
                "only sent or overdue invoices take payments"
            )
        if amount_cents > invoice.balance_cents:
            raise InvalidArgument(
                f"payment of {amount_cents} cents exceeds the balance of "
                f"{invoice.balance_cents} cents on invoice {invoice.invoice_number}"
            )
        values: dict[str, Any] = {"amount_paid_cents": invoice.amount_paid_cents + amount_cents}
        if amount_cents == invoice.balance_cents:
            values.update(status=InvoiceStatus.PAID, paid_at=paid_at or utcnow())
        return await self.update(invoice_id, **values)

    async def finance_summary(
        self, start: date, end: date, *, currency: str = "USD"
    ) -> FinanceSummary:
        """Invoiced, collected and outstanding for invoices issued in [start, end], and
        expenses dated in [start, end] by category and status, in one currency."""
        if end < start:
            raise InvalidArgument(f"period end {end} is before its start {start}")
        invoiced, collected, outstanding = await self._invoice_totals(start, end, currency)
        expenses = ExpenseRepository(self.session, self.scope)
        by_category, by_status = await expenses.totals(start, end, currency=currency)
        return FinanceSummary(
            start=start, end=end, currency=currency,
            invoiced_cents=invoiced, collected_cents=collected, outstanding_cents=outstanding,
            expenses_cents=sum(by_status.values()),
            expenses_by_category=by_category, expenses_by_status=by_status,
        )

    async def _invoice_totals(self, start: date, end: date, currency: str) -> tuple[int, int, int]:
        is_open = Invoice.status.in_(OPEN_INVOICE_STATUSES)
        stmt = self.select().with_only_columns(
            sa.func.coalesce(sa.func.sum(Invoice.total_cents), 0),
            sa.func.coalesce(sa.func.sum(Invoice.amount_paid_cents), 0),
            sa.func.coalesce(
                sa.func.sum(Invoice.total_cents - Invoice.amount_paid_cents).filter(is_open), 0
            ),
        ).where(
            Invoice.status.in_(ISSUED_INVOICE_STATUSES),
            Invoice.currency == currency,
            Invoice.issue_date.between(start, end),
        )
        row = (await self.session.execute(stmt)).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def _locked(self, invoice_id: uuid.UUID) -> Invoice:
        stmt = (
            self.select().where(Invoice.id == invoice_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        invoice = await self.session.scalar(stmt)
        if invoice is None:
            raise NotFound(self.entity, invoice_id)
        return invoice


class ExpenseRepository(Repository[Expense]):
    model = Expense
    sortable = frozenset({"created_at", "updated_at", "date", "submitted_at", "amount_cents"})

    async def by_status(
        self, status: ExpenseStatus, *, limit: int = 50, cursor: str | None = None
    ) -> Page[Expense]:
        return await self._page(Expense.status == status, limit=limit, cursor=cursor, sort="date")

    async def pending_older_than(self, days: int, *, now: datetime | None = None) -> list[Expense]:
        """Expenses waiting for approval for more than `days` days, longest-waiting first."""
        cutoff = (now or utcnow()) - timedelta(days=days)
        return await self._all(
            Expense.status == ExpenseStatus.PENDING, Expense.submitted_at < cutoff,
            order_by=[Expense.submitted_at, Expense.id],
        )

    async def approve(self, expense_id: uuid.UUID, approver_id: uuid.UUID) -> Expense:
        await self._require(expense_id, ExpenseStatus.PENDING, "approve")
        return await self.update(
            expense_id, status=ExpenseStatus.APPROVED, approved_by=approver_id,
            approved_at=utcnow(), rejection_reason=None,
        )

    async def reject(
        self, expense_id: uuid.UUID, approver_id: uuid.UUID, reason: str | None = None
    ) -> Expense:
        await self._require(expense_id, ExpenseStatus.PENDING, "reject")
        return await self.update(
            expense_id, status=ExpenseStatus.REJECTED, approved_by=approver_id,
            approved_at=utcnow(), rejection_reason=reason,
        )

    async def reimburse(self, expense_id: uuid.UUID) -> Expense:
        await self._require(expense_id, ExpenseStatus.APPROVED, "reimburse")
        return await self.update(
            expense_id, status=ExpenseStatus.REIMBURSED, reimbursed_at=utcnow()
        )

    async def totals(
        self, start: date, end: date, *, currency: str = "USD"
    ) -> tuple[dict[ExpenseCategory, int], dict[ExpenseStatus, int]]:
        """Sums of expenses dated in [start, end]: by category (rejected ones excluded) and by
        status (all)."""
        stmt = (
            self.select()
            .with_only_columns(Expense.category, Expense.status, sa.func.sum(Expense.amount_cents))
            .where(Expense.currency == currency, Expense.date.between(start, end))
            .group_by(Expense.category, Expense.status)
        )
        by_category: dict[ExpenseCategory, int] = {}
        by_status: dict[ExpenseStatus, int] = {}
        for category, status, cents in (await self.session.execute(stmt)).all():
            by_status[status] = by_status.get(status, 0) + int(cents)
            if status != ExpenseStatus.REJECTED:
                by_category[category] = by_category.get(category, 0) + int(cents)
        return by_category, by_status

    async def _require(self, expense_id: uuid.UUID, status: ExpenseStatus, action: str) -> None:
        stmt = (
            self.select().where(Expense.id == expense_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        expense = await self.session.scalar(stmt)
        if expense is None:
            raise NotFound(self.entity, expense_id)
        if expense.status != status:
            raise Conflict(f"cannot {action} expense {expense_id}: it is {expense.status}")
