"""Finance repositories against the real database: invoices, payments, overdue, summary,
expense approvals, isolation, and the demo seeder."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import crm as crm_demo
from store.demo import finance as finance_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.finance import (
    ExpenseCategory,
    ExpenseStatus,
    InvoiceStatus,
    LineItem,
    line_item_totals,
)
from store.repositories.crm import CustomerRepository, ProjectRepository
from store.repositories.finance import ExpenseRepository, InvoiceRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]
TODAY = date(2025, 6, 15)


def test_line_item_totals_round_per_line() -> None:
    items = [
        LineItem(description="Consulting", quantity=1.5, unit_price_cents=1001,
                 tax_rate_percent=20),
        LineItem(description="Licence", quantity=3, unit_price_cents=4999),
    ]
    assert [(i.subtotal_cents, i.tax_cents) for i in items] == [(1502, 300), (14997, 0)]
    totals = line_item_totals(items)
    assert (totals.amount_cents, totals.tax_cents, totals.total_cents) == (16499, 300, 16799)


async def test_invoice_crud_numbering_and_paging(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        customer = await CustomerRepository(s, ws.scope).create(name="Acme")
        invoices = InvoiceRepository(s, ws.scope)
        assert await invoices.next_invoice_number() == "INV-00001"
        first = await invoices.create(
            customer_id=customer.id,
            line_items=[{"description": "Setup", "quantity": 2, "unit_price_cents": 5000,
                         "tax_rate_percent": 10}],
        )
        assert first.invoice_number == "INV-00001"
        assert (first.amount_cents, first.tax_cents, first.total_cents) == (10000, 1000, 11000)
        assert first.status == InvoiceStatus.DRAFT and first.balance_cents == 11000
        await invoices.create(invoice_number="CUSTOM-7", amount_cents=500)
        await invoices.create(invoice_number="INV-00041", amount_cents=700)
        assert await invoices.next_invoice_number() == "INV-00042"
        fourth = await invoices.create(amount_cents=900)
        assert fourth.invoice_number == "INV-00042"
    async with scoped_session(sessions, ws.scope) as s:
        invoices = InvoiceRepository(s, ws.scope)
        assert (await invoices.by_number("CUSTOM-7")).amount_cents == 500
        with pytest.raises(NotFound):
            await invoices.by_number("INV-99999")
        page = await invoices.list(limit=3, sort="total_cents", descending=False)
        assert [i.total_cents for i in page.items] == [500, 700, 900] and page.next_cursor
        rest = await invoices.list(limit=3, sort="total_cents", descending=False,
                                   cursor=page.next_cursor)
        assert [i.total_cents for i in rest.items] == [11000] and rest.next_cursor is None
        acme = await invoices.search(customer_id=first.customer_id)
        assert [i.id for i in acme.items] == [first.id]
        updated = await invoices.update(first.id, line_items=[
            {"description": "Setup", "quantity": 1, "unit_price_cents": 5000}])
        assert (updated.amount_cents, updated.tax_cents, updated.total_cents) == (5000, 0, 5000)
        assert (await invoices.archive(first.id)).status == InvoiceStatus.CANCELLED
        await invoices.delete(fourth.id)
        assert await invoices.count() == 3
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await InvoiceRepository(s, ws.scope).create(invoice_number="INV-00001")


async def test_invoice_rejects_bad_line_items_and_amounts(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        invoices = InvoiceRepository(s, ws.scope)
        with pytest.raises(InvalidArgument, match=r"0\.quantity"):
            await invoices.create(line_items=[
                {"description": "x", "quantity": 0, "unit_price_cents": 10}])
        with pytest.raises(InvalidArgument, match="unit_price_cents"):
            await invoices.create_many([{"invoice_number": "A-1", "line_items": [
                {"description": "x", "quantity": 1}]}])
        with pytest.raises(InvalidArgument, match="explicit invoice numbers"):
            await invoices.create_many([{"amount_cents": 10}])
    with pytest.raises(InvalidArgument):
        async with scoped_session(sessions, ws.scope) as s:
            await InvoiceRepository(s, ws.scope).create(amount_cents=-5)


async def test_payments_partial_then_paid(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        invoices = InvoiceRepository(s, ws.scope)
        draft = await invoices.create(amount_cents=10_000, tax_cents=2_000)
        with pytest.raises(Conflict, match="only sent or overdue"):
            await invoices.record_payment(draft.id, 100)
        sent = await invoices.send(draft.id)
        assert sent.status == InvoiceStatus.SENT and sent.sent_at is not None
        with pytest.raises(Conflict, match="not draft"):
            await invoices.send(draft.id)
        with pytest.raises(InvalidArgument, match="positive"):
            await invoices.record_payment(draft.id, 0)
        partial = await invoices.record_payment(draft.id, 5_000)
        assert partial.status == InvoiceStatus.SENT and partial.balance_cents == 7_000
        assert partial.paid_at is None
        with pytest.raises(InvalidArgument, match="exceeds the balance"):
            await invoices.record_payment(draft.id, 7_001)
        paid = await invoices.record_payment(draft.id, 7_000)
        assert paid.status == InvoiceStatus.PAID and paid.paid_at is not None
        assert paid.amount_paid_cents == 12_000 and paid.balance_cents == 0
        with pytest.raises(Conflict):
            await invoices.record_payment(draft.id, 1)
        empty = await invoices.create(amount_cents=0)
        with pytest.raises(InvalidArgument, match="nothing to charge"):
            await invoices.send(empty.id)


async def test_overdue_and_mark_overdue(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        invoices = InvoiceRepository(s, ws.scope)

        async def make(status: InvoiceStatus, due: date, cents: int, paid: int = 0,
                       currency: str = "USD") -> str:
            row = await invoices.create(amount_cents=cents, status=status, due_date=due,
                                        amount_paid_cents=paid, currency=currency)
            return row.invoice_number

        old = await make(InvoiceStatus.OVERDUE, TODAY - timedelta(days=40), 10_000, paid=4_000)
        late = await make(InvoiceStatus.SENT, TODAY - timedelta(days=3), 5_000)
        euro = await make(InvoiceStatus.SENT, TODAY - timedelta(days=1), 800, currency="EUR")
        await make(InvoiceStatus.SENT, TODAY, 9_999)  # due today: not yet overdue
        await make(InvoiceStatus.PAID, TODAY - timedelta(days=90), 7_777, paid=7_777)
        await make(InvoiceStatus.DRAFT, TODAY - timedelta(days=90), 6_666)
        report = await invoices.overdue(TODAY)
        assert [i.invoice_number for i in report.invoices] == [old, late, euro]
        assert report.at_risk_cents == {"USD": 6_000 + 5_000, "EUR": 800}
        assert await invoices.mark_overdue(TODAY) == 2
        overdue = await invoices.search(status=InvoiceStatus.OVERDUE)
        assert {i.invoice_number for i in overdue.items} == {old, late, euro}
        assert await invoices.mark_overdue(TODAY) == 0


async def test_finance_summary(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    start, end = date(2025, 4, 1), date(2025, 6, 30)
    async with scoped_session(sessions, ws.scope) as s:
        invoices = InvoiceRepository(s, ws.scope)
        await invoices.create(amount_cents=10_000, tax_cents=1_000, status=InvoiceStatus.PAID,
                              amount_paid_cents=11_000, issue_date=date(2025, 4, 2))
        await invoices.create(amount_cents=5_000, status=InvoiceStatus.SENT,
                              amount_paid_cents=1_000, issue_date=date(2025, 5, 2))
        await invoices.create(amount_cents=3_000, status=InvoiceStatus.OVERDUE,
                              issue_date=date(2025, 6, 30))
        await invoices.create(amount_cents=99_000, status=InvoiceStatus.DRAFT,
                              issue_date=date(2025, 5, 2))
        await invoices.create(amount_cents=88_000, status=InvoiceStatus.CANCELLED,
                              issue_date=date(2025, 5, 2))
        await invoices.create(amount_cents=77_000, status=InvoiceStatus.SENT,
                              issue_date=date(2025, 3, 31))
        await invoices.create(amount_cents=66_000, status=InvoiceStatus.SENT, currency="EUR",
                              issue_date=date(2025, 5, 2))
        expenses = ExpenseRepository(s, ws.scope)
        for cents, category, status, day in [
            (1_000, ExpenseCategory.TRAVEL, ExpenseStatus.APPROVED, date(2025, 4, 10)),
            (2_000, ExpenseCategory.TRAVEL, ExpenseStatus.PENDING, date(2025, 5, 10)),
            (4_000, ExpenseCategory.SOFTWARE, ExpenseStatus.REIMBURSED, date(2025, 6, 10)),
            (8_000, ExpenseCategory.MEALS, ExpenseStatus.REJECTED, date(2025, 6, 11)),
            (16_000, ExpenseCategory.OFFICE, ExpenseStatus.APPROVED, date(2025, 7, 1)),
        ]:
            await expenses.create(description="x", amount_cents=cents, category=category,
                                  status=status, date=day)
        summary = await invoices.finance_summary(start, end)
        assert summary.invoiced_cents == 11_000 + 5_000 + 3_000
        assert summary.collected_cents == 11_000 + 1_000
        assert summary.outstanding_cents == 4_000 + 3_000
        assert summary.expenses_by_category == {
            ExpenseCategory.TRAVEL: 3_000, ExpenseCategory.SOFTWARE: 4_000}
        assert summary.expenses_by_status == {
            ExpenseStatus.APPROVED: 1_000, ExpenseStatus.PENDING: 2_000,
            ExpenseStatus.REIMBURSED: 4_000, ExpenseStatus.REJECTED: 8_000}
        assert summary.expenses_cents == 15_000
        assert summary.net_cents == 12_000 - 7_000
        euro = await invoices.finance_summary(start, end, currency="EUR")
        assert (euro.invoiced_cents, euro.outstanding_cents, euro.expenses_cents) == (
            66_000, 66_000, 0)
        with pytest.raises(InvalidArgument, match="before its start"):
            await invoices.finance_summary(end, start)


async def test_expense_approval_queue(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        expenses = ExpenseRepository(s, ws.scope)
        stale = await expenses.create(description="Flight", amount_cents=45_000,
                                      category=ExpenseCategory.TRAVEL, submitted_by=ws.user_id,
                                      submitted_at=now - timedelta(days=20))
        fresh = await expenses.create(description="Lunch", amount_cents=3_000,
                                      category=ExpenseCategory.MEALS,
                                      submitted_at=now - timedelta(days=2))
        older = await expenses.create(description="Laptop", amount_cents=180_000,
                                      category=ExpenseCategory.HARDWARE,
                                      submitted_at=now - timedelta(days=30))
        assert [e.id for e in await expenses.pending_older_than(14)] == [older.id, stale.id]
        approved = await expenses.approve(stale.id, ws.user_id)
        assert approved.status == ExpenseStatus.APPROVED and approved.approved_by == ws.user_id
        assert approved.approved_at is not None
        with pytest.raises(Conflict, match="it is approved"):
            await expenses.approve(stale.id, ws.user_id)
        with pytest.raises(Conflict):
            await expenses.reject(stale.id, ws.user_id)
        rejected = await expenses.reject(older.id, ws.user_id, "personal purchase")
        assert rejected.status == ExpenseStatus.REJECTED
        assert rejected.rejection_reason == "personal purchase"
        with pytest.raises(Conflict, match="cannot reimburse"):
            await expenses.reimburse(fresh.id)
        reimbursed = await expenses.reimburse(stale.id)
        assert reimbursed.status == ExpenseStatus.REIMBURSED and reimbursed.reimbursed_at
        assert await expenses.pending_older_than(14) == []
        pending = await expenses.by_status(ExpenseStatus.PENDING)
        assert [e.id for e in pending.items] == [fresh.id]
        assert (await expenses.update(fresh.id, vendor="Cafe")).vendor == "Cafe"
        await expenses.delete(fresh.id)
        assert await expenses.count(status=ExpenseStatus.PENDING) == 0
        with pytest.raises(InvalidArgument):
            await expenses.archive(stale.id)


async def test_another_workspace_is_invisible(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await InvoiceRepository(s, b.scope).create(amount_cents=100,
                                                           status=InvoiceStatus.SENT)
        their_expense = await ExpenseRepository(s, b.scope).create(description="x",
                                                                   amount_cents=100)
        their_customer = await CustomerRepository(s, b.scope).create(name="Theirs")
    async with scoped_session(sessions, a.scope) as s:
        invoices = InvoiceRepository(s, a.scope)
        with pytest.raises(NotFound):
            await invoices.get(theirs.id)
        with pytest.raises(NotFound):
            await invoices.record_payment(theirs.id, 100)
        with pytest.raises(NotFound):
            await invoices.by_number(theirs.invoice_number)
        with pytest.raises(NotFound):
            await ExpenseRepository(s, a.scope).approve(their_expense.id, a.user_id)
        assert (await invoices.overdue(date(2100, 1, 1))).invoices == []
        assert await invoices.next_invoice_number() == "INV-00001"
    with pytest.raises(NotFound, match="customer"):
        async with scoped_session(sessions, a.scope) as s:
            await InvoiceRepository(s, a.scope).create(customer_id=their_customer.id)
    async with scoped_session(sessions, b.scope) as s:
        assert (await InvoiceRepository(s, b.scope).get(theirs.id)).amount_paid_cents == 0


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5, now=now)
        await crm_demo.seed(ctx)
        await finance_demo.seed(ctx)
        invoices = InvoiceRepository(s, ws.scope)
        assert await invoices.count() == len(ctx.ids["invoices"]) >= 10
        statuses = {i.status for i in (await invoices.list(limit=50)).items}
        assert statuses == set(InvoiceStatus)
        overdue = await invoices.overdue(now.date())
        assert len(overdue.invoices) >= 2 and overdue.at_risk_cents["USD"] > 0
        for invoice in (await invoices.search(status=InvoiceStatus.PAID, limit=50)).items:
            assert invoice.balance_cents == 0 and invoice.paid_at is not None
            assert invoice.total_cents == sum(
                i.subtotal_cents + i.tax_cents for i in invoice.items())
        projects = {p.id: p for p in await ProjectRepository(s, ws.scope).get_many(
            ctx.ids["projects"])}
        for invoice in (await invoices.list(limit=50)).items:
            if invoice.project_id is not None:
                assert projects[invoice.project_id].customer_id == invoice.customer_id
        expenses = ExpenseRepository(s, ws.scope)
        assert await expenses.count() == len(ctx.ids["expenses"]) >= 6
        assert await expenses.pending_older_than(14, now=now)
        summary = await invoices.finance_summary(now.date() - timedelta(days=365), now.date())
        assert summary.invoiced_cents > summary.collected_cents > 0
