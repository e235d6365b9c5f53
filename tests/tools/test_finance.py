"""Finance tools against the real database: every tool's effect (rows and audit), invalid
arguments, roles and the billing permission, ids from another workspace, and replayed calls."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import tools.finance  # registers the finance tools
from store.models.core import MemberRole, Workspace
from store.models.finance import ExpenseCategory, ExpenseStatus, InvoiceStatus
from store.models.neptune import OutboundChannel
from store.repositories.admin import AuditLogRepository
from store.repositories.crm import CustomerRepository, ProjectRepository
from store.repositories.finance import ExpenseRepository, InvoiceRepository
from store.repositories.neptune import OutboundMessageRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit_trail, unchanged
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import ToolRegistry

TODAY = datetime.now(UTC).date()


@pytest.fixture(autouse=True)
def _one_today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tools' "today" is the tests' TODAY, so a run that crosses midnight (UTC) does not
    compare tomorrow's due dates with today's."""
    monkeypatch.setattr(tools.finance, "today", lambda: TODAY)
    monkeypatch.setattr(tools.finance.schemas, "today", lambda: TODAY)


LINE = {"description": "Consulting", "quantity": 2, "unit_price_cents": 5000,
        "tax_rate_percent": 10}  # 100.00 + 10.00 tax


@dataclasses.dataclass(frozen=True)
class Seed:
    customer_id: uuid.UUID
    project_id: uuid.UUID
    draft_id: uuid.UUID
    sent_id: uuid.UUID
    overdue_id: uuid.UUID
    paid_id: uuid.UUID
    pending_id: uuid.UUID
    approved_id: uuid.UUID


async def seed(sessions: Sessions, ws: WorkspaceFixture) -> Seed:
    """A customer with a project, invoices in four states and two expenses."""
    async with scoped_session(sessions, ws.scope) as s:
        customer = await CustomerRepository(s, ws.scope).create(
            name="Acme", email="billing@acme.test")
        project = await ProjectRepository(s, ws.scope).create(
            name="Website", customer_id=customer.id)
        invoices = InvoiceRepository(s, ws.scope)

        async def invoice(**values: Any) -> uuid.UUID:
            row = await invoices.create(customer_id=customer.id, line_items=[LINE], **values)
            return row.id

        draft = await invoice(due_date=TODAY + timedelta(days=30))
        sent = await invoice(status=InvoiceStatus.SENT, due_date=TODAY + timedelta(days=10),
                             sent_at=datetime.now(UTC))
        overdue = await invoice(status=InvoiceStatus.SENT, issue_date=TODAY - timedelta(days=70),
                                due_date=TODAY - timedelta(days=40), amount_paid_cents=1000)
        paid = await invoice(status=InvoiceStatus.PAID, amount_paid_cents=11000)
        expenses = ExpenseRepository(s, ws.scope)
        pending = await expenses.create(description="Taxi", amount_cents=2500, date=TODAY,
                                        category=ExpenseCategory.TRAVEL, submitted_by=ws.user_id)
        approved = await expenses.create(description="Laptop", amount_cents=150000, date=TODAY,
                                         status=ExpenseStatus.APPROVED,
                                         category=ExpenseCategory.HARDWARE)
        return Seed(customer.id, project.id, draft, sent, overdue, paid, pending.id, approved.id)


async def state(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, Any]:
    """Everything a finance tool could change in a workspace, to prove a refusal changed nothing."""
    async with scoped_session(sessions, ws.scope) as s:
        invoices = (await InvoiceRepository(s, ws.scope).list(limit=200)).items
        expenses = (await ExpenseRepository(s, ws.scope).list(limit=200)).items
        return {
            "invoices": sorted((str(i.id), i.status, i.amount_paid_cents, i.notes)
                               for i in invoices),
            "expenses": sorted((str(e.id), e.status) for e in expenses),
            "outbound": await OutboundMessageRepository(s, ws.scope).count(),
            "audit": await AuditLogRepository(s, ws.scope).count(),
        }


# -- invoices --------------------------------------------------------------------------------


async def test_create_invoice_computes_totals_and_audits(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "create_invoice", {
        "project_id": str(s.project_id), "tax_rate_percent": 20, "notes": "PO 4471",
        "line_items": [
            {"description": "Design", "quantity": 7.5, "unit_price": "150.00"},
            {"description": "Hosting", "quantity": 1, "unit_price": 300, "tax_rate_percent": 0},
        ],
    })
    out = result.invoice
    assert (out.subtotal, out.tax, out.total) == (Decimal("1425.00"), Decimal("225.00"),
                                                  Decimal("1650.00"))
    assert out.customer_id == s.customer_id and out.customer_name == "Acme"
    assert out.status == InvoiceStatus.DRAFT and out.due_date == TODAY + timedelta(days=30)
    assert [line.unit_price for line in out.line_items] == [Decimal("150.00"), Decimal("300.00")]
    async with scoped_session(sessions, ws.scope) as session:
        row = await InvoiceRepository(session, ws.scope).get(out.id)
        assert (row.amount_cents, row.tax_cents, row.currency) == (142500, 22500, "USD")
        assert row.created_by == ws.user_id and row.notes == "PO 4471"
    [(action, changes)] = await audit_trail(sessions, ws, "invoice", out.id)
    assert action == "create" and changes["amount_cents"] == {"before": None, "after": 142500}


async def test_create_invoice_uses_workspace_currency_and_replays_once(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool,
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        workspace = await s.get(Workspace, ws.workspace_id)
        assert workspace is not None
        workspace.settings = {"currency": "EUR"}
    args = {"line_items": [{"description": "Licence", "quantity": 1, "unit_price": 99}]}
    first = await call_tool(ws, "create_invoice", args, key="turn1:c1")
    again = await call_tool(ws, "create_invoice", args, key="turn1:c1")
    assert first == again and first.invoice.currency == "EUR"  # type: ignore[attr-defined]
    assert (await state(sessions, ws))["invoices"] == [
        (str(first.invoice.id), InvoiceStatus.DRAFT, 0, None)]  # type: ignore[attr-defined]


async def test_get_and_list_invoices(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    by_id = await call_tool(ws, "get_invoice", {"invoice_id": str(s.overdue_id)},
                            role=MemberRole.VIEWER)
    by_number = await call_tool(ws, "get_invoice",
                                {"invoice_number": by_id.invoice.invoice_number})
    assert by_number == by_id
    assert (by_id.invoice.balance, by_id.invoice.days_overdue) == (Decimal("100.00"), 40)
    sent = await call_tool(ws, "list_invoices", {"status": "sent"}, role=MemberRole.VIEWER)
    assert {i.id for i in sent.invoices} == {s.sent_id, s.overdue_id} and sent.total == 2
    page = await call_tool(ws, "list_invoices", {"customer_id": str(s.customer_id), "limit": 3})
    assert (len(page.invoices), page.total, page.has_more) == (3, 4, True)


async def test_send_invoice_queues_email_and_marks_sent(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "send_invoice",
                             {"invoice_id": str(s.draft_id), "message": "Thanks for the work!"})
    assert result.invoice.status == InvoiceStatus.SENT and not result.reminder
    assert result.recipient == "billing@acme.test"
    async with scoped_session(sessions, ws.scope) as session:
        [message] = await OutboundMessageRepository(session, ws.scope).for_record(
            "invoice", s.draft_id)
        assert message.id == result.message_id and message.channel == OutboundChannel.EMAIL
        assert message.recipient == "billing@acme.test" and "Thanks for the work!" in message.body
        assert message.subject.startswith("Invoice INV-") and "110.00 USD" in message.body
        sent = await InvoiceRepository(session, ws.scope).get(s.draft_id)
        assert sent.status == InvoiceStatus.SENT and sent.sent_at is not None
    [(action, changes)] = await audit_trail(sessions, ws, "invoice", s.draft_id)
    assert action == "send" and changes["status"] == {"before": "draft", "after": "sent"}
    queued = await audit_trail(sessions, ws, "outbound_message", message.id)
    assert [a for a, _ in queued] == ["create"]


async def test_send_invoice_to_an_overdue_invoice_is_a_reminder(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "send_invoice",
                             {"invoice_id": str(s.overdue_id), "to_email": "ap@acme.test"})
    assert result.reminder and result.invoice.status == InvoiceStatus.SENT
    async with scoped_session(sessions, ws.scope) as session:
        [message] = await OutboundMessageRepository(session, ws.scope).for_record(
            "invoice", s.overdue_id)
        assert message.recipient == "ap@acme.test" and message.subject.startswith("Reminder")
        assert "Amount due: 100.00 USD" in message.body


async def test_send_invoice_replayed_sends_one_email(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool,
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    args = {"invoice_id": str(s.draft_id)}
    first = await call_tool(ws, "send_invoice", args, key="t:send")
    again = await call_tool(ws, "send_invoice", args, key="t:send")
    assert again == first
    after = await state(sessions, ws)
    assert after["outbound"] == 1
    assert len(await audit_trail(sessions, ws, "invoice", s.draft_id)) == 1


async def test_record_payment_partial_then_full(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    part = await call_tool(ws, "record_payment", {"invoice_id": str(s.sent_id), "amount": 40.5})
    assert (part.invoice.balance, part.fully_paid) == (Decimal("69.50"), False)
    assert part.amount_recorded.currency == "USD"
    with pytest.raises(RetryableToolError, match=r"exceeds the balance of 69\.50 USD"):
        await call_tool(ws, "record_payment", {"invoice_id": str(s.sent_id), "amount": 70})
    rest = await call_tool(ws, "record_payment", {
        "invoice_id": str(s.sent_id), "amount": "69.50",
        "paid_on": str(TODAY - timedelta(days=1))})
    assert rest.fully_paid and rest.invoice.status == InvoiceStatus.PAID
    assert rest.invoice.paid_at.date() == TODAY - timedelta(days=1)
    trail = await audit_trail(sessions, ws, "invoice", s.sent_id)
    changes = [c["amount_paid_cents"] for _, c in trail]
    assert changes == [{"before": 0, "after": 4050}, {"before": 4050, "after": 11000}]


async def test_record_payment_replayed_pays_once(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool,
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    args = {"invoice_id": str(s.sent_id), "amount": 50}
    for _ in range(2):
        result = await call_tool(ws, "record_payment", args, key="t:pay")
        assert result.invoice.amount_paid == Decimal("50.00")  # type: ignore[attr-defined]
    assert len(await audit_trail(sessions, ws, "invoice", s.sent_id)) == 1


async def test_cancel_invoice_keeps_reason_and_refuses_paid_ones(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "cancel_invoice",
                             {"invoice_id": str(s.draft_id), "reason": "duplicate"})
    assert result.invoice.status == InvoiceStatus.CANCELLED
    assert result.invoice.notes == "Cancelled: duplicate"
    [(action, changes)] = await audit_trail(sessions, ws, "invoice", s.draft_id)
    assert action == "cancel" and changes["status"]["after"] == "cancelled"
    async with unchanged(state, sessions, ws):
        for invoice_id in (s.paid_id, s.overdue_id, s.draft_id):  # paid, partly paid, cancelled
            with pytest.raises(ToolFailed):
                await call_tool(ws, "cancel_invoice", {"invoice_id": str(invoice_id)})


async def test_list_overdue_invoices(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "list_overdue_invoices", {}, role=MemberRole.VIEWER)
    assert [(i.id, i.days_overdue, i.customer_name) for i in result.invoices] == [
        (s.overdue_id, 40, "Acme")]
    assert result.total == 1 and [(m.amount, m.currency) for m in result.at_risk] == [
        (Decimal("100.00"), "USD")]


async def test_get_finance_summary(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    await seed(sessions, ws)
    result = await call_tool(ws, "get_finance_summary", {
        "period": "custom", "start": str(TODAY - timedelta(days=100)), "end": str(TODAY)},
        role=MemberRole.VIEWER)
    # Issued: sent (110, unpaid), overdue (110, 10 paid), paid (110); the draft does not count.
    assert (result.invoiced, result.collected, result.outstanding) == (
        Decimal("330.00"), Decimal("120.00"), Decimal("210.00"))
    assert (result.expenses, result.net) == (Decimal("1525.00"), Decimal("-1405.00"))
    assert {t.category: t.amount for t in result.expenses_by_category} == {
        ExpenseCategory.TRAVEL: Decimal("25.00"), ExpenseCategory.HARDWARE: Decimal("1500.00")}
    month = await call_tool(ws, "get_finance_summary", {"period": "last_year"})
    assert (month.start, month.end) == (date(TODAY.year - 1, 1, 1), date(TODAY.year - 1, 12, 31))
    assert month.invoiced == Decimal("0.00")


# -- expenses --------------------------------------------------------------------------------


async def test_submit_expense_is_a_member_action(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace(role=MemberRole.MEMBER)
    s = await seed(sessions, ws)
    result = await call_tool(ws, "submit_expense", {
        "description": "Client dinner", "amount": 84.2, "category": "meals", "vendor": "Nobu",
        "receipt_url": "https://receipts.test/1.pdf", "project_id": str(s.project_id),
    }, role=MemberRole.MEMBER)
    out = result.expense
    assert (out.amount, out.status, out.spent_on) == (Decimal("84.20"), "pending", TODAY)
    async with scoped_session(sessions, ws.scope) as session:
        row = await ExpenseRepository(session, ws.scope).get(out.id)
        assert (row.amount_cents, row.submitted_by, row.receipt) == (
            8420, ws.user_id, "https://receipts.test/1.pdf")
    [(action, changes)] = await audit_trail(sessions, ws, "expense", out.id)
    assert action == "create" and changes["vendor"]["after"] == "Nobu"


async def test_expense_approval_queue(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    approved = await call_tool(ws, "approve_expense", {"expense_id": str(s.pending_id)})
    assert approved.expense.status == "approved" and approved.expense.approved_by == ws.user_id
    paid = await call_tool(ws, "reimburse_expense", {"expense_id": str(s.pending_id)})
    assert paid.expense.status == "reimbursed"
    trail = await audit_trail(sessions, ws, "expense", s.pending_id)
    assert [(a, c["status"]) for a, c in trail] == [
        ("approve", {"before": "pending", "after": "approved"}),
        ("reimburse", {"before": "approved", "after": "reimbursed"}),
    ]
    async with unchanged(state, sessions, ws):
        with pytest.raises(ToolFailed, match="it is reimbursed"):
            await call_tool(ws, "reject_expense", {"expense_id": str(s.pending_id), "reason": "no"})
        with pytest.raises(ToolFailed):
            await call_tool(ws, "approve_expense", {"expense_id": str(s.approved_id)})


async def test_reject_expense_records_reason(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "reject_expense",
                             {"expense_id": str(s.pending_id), "reason": "No receipt"})
    assert (result.expense.status, result.expense.rejection_reason) == ("rejected", "No receipt")
    [(action, _)] = await audit_trail(sessions, ws, "expense", s.pending_id)
    assert action == "reject"


async def test_list_expenses_filters(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    queue = await call_tool(ws, "list_expenses", {"status": "pending"}, role=MemberRole.VIEWER)
    assert [e.id for e in queue.expenses] == [s.pending_id] and queue.total == 1
    mine = await call_tool(ws, "list_expenses", {"only_mine": True})
    assert [e.id for e in mine.expenses] == [s.pending_id]
    hardware = await call_tool(ws, "list_expenses", {"category": "hardware", "limit": 1})
    assert [e.id for e in hardware.expenses] == [s.approved_id] and not hardware.has_more


# -- refusals --------------------------------------------------------------------------------

#: (tool, arguments) that must be refused as a retryable error and change nothing.
INVALID: list[tuple[str, Callable[[Seed], dict[str, Any]]]] = [
    ("create_invoice", lambda s: {"line_items": []}),
    ("create_invoice", lambda s: {"line_items": [{"description": "x", "quantity": 1,
                                                  "unit_price": -5}]}),
    ("create_invoice", lambda s: {"line_items": [{"description": "x", "quantity": 1,
                                                  "unit_price": "1.005"}]}),
    ("create_invoice", lambda s: {"due_date": str(TODAY - timedelta(days=1)),
                                  "line_items": [{"description": "x", "quantity": 1,
                                                  "unit_price": 5}]}),
    ("create_invoice", lambda s: {"workspace_id": str(uuid.uuid4()),
                                  "line_items": [{"description": "x", "quantity": 1,
                                                  "unit_price": 5}]}),
    ("get_invoice", lambda s: {}),
    ("get_invoice", lambda s: {"invoice_number": "INV-99999"}),
    ("list_invoices", lambda s: {"limit": 0}),
    ("list_invoices", lambda s: {"status": "lost"}),
    ("send_invoice", lambda s: {"invoice_id": str(s.draft_id), "to_email": "not-an-email"}),
    ("send_invoice", lambda s: {"invoice_id": "INV-00001"}),
    ("record_payment", lambda s: {"invoice_id": str(s.sent_id), "amount": 0}),
    ("record_payment", lambda s: {"invoice_id": str(s.sent_id), "amount": "110.01"}),
    ("record_payment", lambda s: {"invoice_id": str(s.sent_id), "amount": 5,
                                  "paid_on": str(TODAY + timedelta(days=2))}),
    ("cancel_invoice", lambda s: {"invoice_id": str(s.draft_id), "reason": "x" * 501}),
    ("list_overdue_invoices", lambda s: {"limit": 101}),
    ("get_finance_summary", lambda s: {"period": "custom"}),
    ("get_finance_summary", lambda s: {"period": "this_month", "start": str(TODAY)}),
    ("get_finance_summary", lambda s: {"period": "custom", "start": str(TODAY),
                                       "end": str(TODAY - timedelta(days=1))}),
    ("get_finance_summary", lambda s: {"currency": "dollars"}),
    ("submit_expense", lambda s: {"description": "Taxi", "amount": -3}),
    ("submit_expense", lambda s: {"description": "", "amount": 3}),
    ("submit_expense", lambda s: {"description": "Taxi", "amount": 3,
                                  "spent_on": str(TODAY + timedelta(days=1))}),
    ("submit_expense", lambda s: {"description": "Taxi", "amount": 3, "category": "fun"}),
    ("approve_expense", lambda s: {"expense_id": "pending"}),
    ("reject_expense", lambda s: {"expense_id": str(s.pending_id)}),
    ("reimburse_expense", lambda s: {}),
    ("list_expenses", lambda s: {"status": "paid"}),
]


@pytest.mark.parametrize(("name", "make_args"), INVALID)
async def test_invalid_arguments_are_retryable_and_change_nothing(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool, name: str,
    make_args: Callable[[Seed], dict[str, Any]],
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    async with unchanged(state, sessions, ws):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, name, make_args(s))


async def test_send_invoice_without_any_address_is_retryable(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        invoice = await InvoiceRepository(s, ws.scope).create(line_items=[LINE])
    async with unchanged(state, sessions, ws):
        with pytest.raises(RetryableToolError, match="to_email"):
            await call_tool(ws, "send_invoice", {"invoice_id": str(invoice.id)})


#: One valid call of every tool that takes an id, built from a seed.
BY_ID: dict[str, Callable[[Seed], dict[str, Any]]] = {
    "create_invoice": lambda s: {"customer_id": str(s.customer_id), "line_items": [
        {"description": "x", "quantity": 1, "unit_price": 5}]},
    "get_invoice": lambda s: {"invoice_id": str(s.draft_id)},
    "list_invoices": lambda s: {"customer_id": str(s.customer_id)},
    "send_invoice": lambda s: {"invoice_id": str(s.draft_id)},
    "record_payment": lambda s: {"invoice_id": str(s.sent_id), "amount": 1},
    "cancel_invoice": lambda s: {"invoice_id": str(s.draft_id)},
    "submit_expense": lambda s: {"description": "Taxi", "amount": 3,
                                 "project_id": str(s.project_id)},
    "approve_expense": lambda s: {"expense_id": str(s.pending_id)},
    "reject_expense": lambda s: {"expense_id": str(s.pending_id), "reason": "no"},
    "reimburse_expense": lambda s: {"expense_id": str(s.approved_id)},
    "list_expenses": lambda s: {"project_id": str(s.project_id)},
}


@pytest.mark.parametrize("name", sorted(BY_ID))
async def test_ids_of_another_workspace_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool, name: str
) -> None:
    mine, theirs = await make_workspace(), await make_workspace()
    await seed(sessions, mine)
    other = await seed(sessions, theirs)
    async with unchanged(state, sessions, mine, theirs):
        with pytest.raises(RetryableToolError, match="in this workspace"):
            await call_tool(mine, name, BY_ID[name](other))


async def test_every_tool_with_an_id_is_checked_across_workspaces(catalog: ToolRegistry) -> None:
    finance = {t.name for t in catalog if t.domain == "finance"}
    with_ids = {t.name for t in catalog if t.domain == "finance" and "_id" in str(t.parameters)}
    assert with_ids == set(BY_ID) and {n for n, _ in INVALID} == finance


BILLING = ["create_invoice", "send_invoice", "record_payment", "cancel_invoice",
           "approve_expense", "reject_expense", "reimburse_expense"]


@pytest.mark.parametrize(("name", "role"), [
    *((n, MemberRole.MEMBER) for n in BILLING),
    *((n, MemberRole.VIEWER) for n in [*BILLING, "submit_expense"]),
])
async def test_roles_without_permission_are_refused(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool, name: str,
    role: MemberRole,
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    async with unchanged(state, sessions, ws):
        with pytest.raises(ToolFailed, match="needs the"):
            await call_tool(ws, name, BY_ID[name](s), role=role)


async def test_billing_flag_lets_a_member_record_payments(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "record_payment", {"invoice_id": str(s.sent_id), "amount": 1},
                             role=MemberRole.MEMBER, flags={"billing": True})
    assert result.invoice.amount_paid == Decimal("1.00")
    with pytest.raises(ToolFailed):
        await call_tool(ws, "approve_expense", {"expense_id": str(s.pending_id)},
                        role=MemberRole.ADMIN, flags={"billing": False})


def test_finance_catalogue_policy(catalog: ToolRegistry) -> None:
    """Risk, role and permission of every finance tool: what decides approvals and access."""
    policy = {t.name: (t.risk.value, t.role.value, t.permission)
              for t in catalog if t.domain == "finance"}
    assert policy == {
        "create_invoice": ("medium", "member", "billing"),
        "get_invoice": ("low", "viewer", None),
        "list_invoices": ("low", "viewer", None),
        "send_invoice": ("high", "member", "billing"),
        "record_payment": ("high", "member", "billing"),
        "cancel_invoice": ("high", "member", "billing"),
        "list_overdue_invoices": ("low", "viewer", None),
        "get_finance_summary": ("low", "viewer", None),
        "submit_expense": ("medium", "member", None),
        "approve_expense": ("high", "member", "billing"),
        "reject_expense": ("medium", "member", "billing"),
        "reimburse_expense": ("high", "member", "billing"),
        "list_expenses": ("low", "viewer", None),
    }
    assert tools.finance.create_invoice.__module__ == "tools.finance"
