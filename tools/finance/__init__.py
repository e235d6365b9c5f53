"""Finance tools: invoices (create, send, payments, overdue, summary) and the expense queue.

Writes that move money or reach a customer (sending, payments, approvals, reimbursements) are
high risk and need the `billing` permission; so do invoice drafts. Submitting one's own expense
is an ordinary member action: it only enters the approval queue. Every write is audited in the
same transaction, and a retried call (same idempotency key) returns its first effect.

The tools live in this module so their domain is "finance"; their argument and result models
are in `tools.finance.schemas`.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from store.models.finance import Expense, ExpenseStatus, Invoice, InvoiceStatus
from store.models.neptune import OutboundChannel
from store.repositories.crm import CustomerRepository, ProjectRepository
from store.repositories.finance import (
    OPEN_INVOICE_STATUSES,
    ExpenseRepository,
    InvoiceRepository,
)
from store.repositories.neptune import OutboundMessageRepository
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolFailed
from tools.finance.schemas import (
    PAYMENT_TERM_DAYS,
    CancelInvoiceArgs,
    CategoryTotal,
    CreateInvoiceArgs,
    ExpenseList,
    ExpenseOut,
    ExpenseRef,
    ExpenseResult,
    FinanceSummaryArgs,
    FinanceSummaryResult,
    GetInvoiceArgs,
    InvoiceDetail,
    InvoiceList,
    InvoiceOut,
    InvoiceResult,
    ListExpensesArgs,
    ListInvoicesArgs,
    ListOverdueArgs,
    MoneyOut,
    OverdueInvoices,
    PaymentResult,
    Period,
    RecordPaymentArgs,
    RejectExpenseArgs,
    SendInvoiceArgs,
    SendInvoiceResult,
    StatusTotal,
    SubmitExpenseArgs,
    period_bounds,
)
from tools.finance.support import (
    customer_name,
    customer_names,
    expense_state,
    invoice_email,
    invoice_state,
    workspace_info,
)
from tools.registry import Risk, tool
from tools.workspace import major_units, to_cents, today

CLOSED = (InvoiceStatus.PAID, InvoiceStatus.CANCELLED)
REJECTED = ExpenseStatus.REJECTED


# -- invoices --------------------------------------------------------------------------------


async def _detail(ctx: ToolContext, invoice_id: uuid.UUID) -> InvoiceResult:
    invoice = await InvoiceRepository(ctx.session, ctx.scope).get(invoice_id)
    return InvoiceResult(
        invoice=InvoiceDetail.detail(invoice, await customer_name(ctx, invoice.customer_id))
    )


async def _billed_customer(ctx: ToolContext, args: CreateInvoiceArgs) -> uuid.UUID | None:
    """The customer to bill: the one given, else the project's; a mismatch is an error."""
    customer_id = args.customer_id
    if customer_id is not None:
        await CustomerRepository(ctx.session, ctx.scope).get(customer_id)
    if args.project_id is None:
        return customer_id
    project = await ProjectRepository(ctx.session, ctx.scope).get(args.project_id)
    if customer_id is None:
        return project.customer_id
    if project.customer_id not in (None, customer_id):
        raise RetryableToolError(
            f"project {project.name!r} belongs to another customer; pass that customer_id or "
            "leave customer_id out"
        )
    return customer_id


def _line_items(args: CreateInvoiceArgs) -> list[dict[str, Any]]:
    return [
        {
            "description": item.description, "quantity": float(item.quantity),
            "unit_price_cents": to_cents(item.unit_price),
            "tax_rate_percent": float(
                args.tax_rate_percent if item.tax_rate_percent is None else item.tax_rate_percent
            ),
        }
        for item in args.line_items
    ]


@tool(
    risk=Risk.MEDIUM, permission="billing", title="Create a draft invoice",
    examples=("invoice Acme for 10 hours of consulting at $150", "draft an invoice for the "
              "website project: design 4000, hosting 300, 20% VAT", "bill Globex 2 licences"),
)
async def create_invoice(ctx: ToolContext, args: CreateInvoiceArgs) -> InvoiceResult:
    """Create a draft invoice from line items. Prices are in major units (150.00) of the invoice
    currency; tax is a percentage per line or for the whole invoice; subtotal, tax and total are
    computed. The number (INV-00042) is assigned automatically; the due date defaults to 30 days
    from today. Nothing is sent: use send_invoice afterwards."""
    earlier = await replayed(ctx, "create", "invoice")
    if earlier is not None:
        return await _detail(ctx, earlier)
    due = args.due_date or today() + timedelta(days=PAYMENT_TERM_DAYS)
    if due < today():
        raise RetryableToolError(f"due_date {due} is in the past; use today or a later day")
    customer_id = await _billed_customer(ctx, args)
    invoice = await InvoiceRepository(ctx.session, ctx.scope).create(
        customer_id=customer_id, project_id=args.project_id, line_items=_line_items(args),
        currency=args.currency or (await workspace_info(ctx)).currency, due_date=due,
        notes=args.notes, created_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "invoice", invoice.id, after=invoice_state(invoice))
    return await _detail(ctx, invoice.id)


@tool(risk=Risk.LOW, examples=("show me invoice INV-00042", "what's on the Acme invoice?"))
async def get_invoice(ctx: ToolContext, args: GetInvoiceArgs) -> InvoiceResult:
    """Show one invoice with its line items, totals, amount paid and balance, by id or by number
    (e.g. INV-00042). Amounts are in major units of the invoice's currency."""
    repo = InvoiceRepository(ctx.session, ctx.scope)
    if args.invoice_number is not None:
        return await _detail(ctx, (await repo.by_number(args.invoice_number)).id)
    assert args.invoice_id is not None  # the argument model requires one of the two
    return await _detail(ctx, args.invoice_id)


@tool(risk=Risk.LOW, examples=("list our draft invoices", "which invoices did we send Acme?"))
async def list_invoices(ctx: ToolContext, args: ListInvoicesArgs) -> InvoiceList:
    """List invoices, newest issue date first, optionally only one status or one customer's.
    For what is late, prefer list_overdue_invoices."""
    filters = {k: v for k, v in (("status", args.status), ("customer_id", args.customer_id))
               if v is not None}
    if args.customer_id is not None:  # an unknown id is an error, not an empty list
        await CustomerRepository(ctx.session, ctx.scope).get(args.customer_id)
    repo = InvoiceRepository(ctx.session, ctx.scope)
    page = await repo.search(status=args.status, customer_id=args.customer_id, limit=args.limit)
    names = await customer_names(ctx, (i.customer_id for i in page.items))
    return InvoiceList(
        invoices=[InvoiceOut.of(i, names.get(i.customer_id)) for i in page.items],
        total=await repo.count(**filters), has_more=page.next_cursor is not None,
    )


async def _recipient(ctx: ToolContext, customer_id: uuid.UUID | None, given: str | None) -> str:
    if given:
        return given
    if customer_id is not None:
        email = (await CustomerRepository(ctx.session, ctx.scope).get(customer_id)).email
        if email:
            return email
    raise RetryableToolError("the invoice's customer has no email address; pass to_email")


async def _sent_before(ctx: ToolContext, invoice_id: uuid.UUID) -> SendInvoiceResult:
    invoice = await InvoiceRepository(ctx.session, ctx.scope).get(invoice_id)
    messages = await OutboundMessageRepository(ctx.session, ctx.scope).for_record(
        "invoice", invoice_id
    )
    message = next((m for m in messages if m.idempotency_key == ctx.idempotency_key), None)
    if message is None:
        raise ToolFailed(f"invoice {invoice.invoice_number} was already sent by this call, "
                         "but its email is no longer in the outbox")
    return SendInvoiceResult(
        invoice=InvoiceOut.of(invoice, await customer_name(ctx, invoice.customer_id)),
        recipient=message.recipient, message_id=message.id,
        reminder=message.meta.get("kind") == "reminder",
    )


@tool(
    risk=Risk.HIGH, permission="billing", title="Email invoice {invoice_id}",
    examples=("send invoice INV-00042 to the customer", "email the Acme invoice to "
              "billing@acme.com", "remind Globex about their overdue invoice"),
)
async def send_invoice(ctx: ToolContext, args: SendInvoiceArgs) -> SendInvoiceResult:
    """Email an invoice to the customer (or to to_email) through the workspace's outbound
    sender. A draft becomes 'sent'; an invoice already sent or overdue gets a payment reminder
    for its balance and keeps its status. Paid and cancelled invoices cannot be sent. The email
    is queued for delivery; its id is returned."""
    earlier = await replayed(ctx, "send", "invoice")
    if earlier is not None:
        return await _sent_before(ctx, earlier)
    repo = InvoiceRepository(ctx.session, ctx.scope)
    invoice = await repo.get(args.invoice_id)
    if invoice.status in CLOSED:
        raise ToolFailed(f"invoice {invoice.invoice_number} is {invoice.status}; not sending it")
    if invoice.total_cents <= 0:
        raise ToolFailed(f"invoice {invoice.invoice_number} has nothing to charge")
    recipient = await _recipient(ctx, invoice.customer_id, args.to_email)
    before, reminder = invoice_state(invoice), invoice.status != InvoiceStatus.DRAFT
    if not reminder:
        invoice = await repo.send(invoice.id)
    ws, customer = await workspace_info(ctx), await customer_name(ctx, invoice.customer_id)
    subject, body = invoice_email(invoice, ws.name, customer, args.message, reminder=reminder)
    message = await OutboundMessageRepository(ctx.session, ctx.scope).enqueue(
        OutboundChannel.EMAIL, recipient, body, subject=subject, related_type="invoice",
        related_id=invoice.id, idempotency_key=ctx.idempotency_key,
        meta={"kind": "reminder" if reminder else "invoice"},
    )
    await record_change(ctx, "send", "invoice", invoice.id, before=before,
                        after=invoice_state(invoice))
    await record_change(ctx, "create", "outbound_message", message.id, after=snapshot(
        message, ("channel", "recipient", "subject", "related_type", "related_id", "status")))
    return SendInvoiceResult(invoice=InvoiceOut.of(invoice, customer), recipient=recipient,
                             message_id=message.id, reminder=reminder)


def _moment(day: date | None) -> datetime:
    """A payment day as a timestamp: now for today, midnight UTC for an earlier day."""
    if day is None or day == today():
        return datetime.now(UTC)
    return datetime.combine(day, time(0, tzinfo=UTC))


@tool(
    risk=Risk.HIGH, permission="billing",
    title="Record payment of {amount} on invoice {invoice_id}",
    examples=("Acme paid INV-00042 in full", "record a $500 partial payment on the Globex "
              "invoice", "mark invoice INV-00007 as paid yesterday"),
)
async def record_payment(ctx: ToolContext, args: RecordPaymentArgs) -> PaymentResult:
    """Record money received against a sent or overdue invoice, in major units of the invoice's
    currency. Partial payments are allowed; when the balance reaches zero the invoice becomes
    paid. A payment larger than the balance is refused."""
    earlier = await replayed(ctx, "payment", "invoice")
    if earlier is not None:
        invoice = await InvoiceRepository(ctx.session, ctx.scope).get(earlier)
    else:
        invoice = await _apply_payment(ctx, args)
    return PaymentResult(
        invoice=InvoiceOut.of(invoice, await customer_name(ctx, invoice.customer_id)),
        amount_recorded=MoneyOut(amount=args.amount, currency=invoice.currency),
        fully_paid=invoice.status == InvoiceStatus.PAID,
    )


async def _apply_payment(ctx: ToolContext, args: RecordPaymentArgs) -> Invoice:
    if args.paid_on is not None and args.paid_on > today():
        raise RetryableToolError(f"paid_on {args.paid_on} is in the future")
    repo = InvoiceRepository(ctx.session, ctx.scope)
    current = await repo.get(args.invoice_id)
    if current.status in OPEN_INVOICE_STATUSES and to_cents(args.amount) > current.balance_cents:
        # Said in the invoice's major units; the repository re-checks under the row lock.
        raise RetryableToolError(
            f"payment of {args.amount} {current.currency} exceeds the balance of "
            f"{major_units(current.balance_cents)} {current.currency} on invoice "
            f"{current.invoice_number}"
        )
    before = invoice_state(current)
    invoice = await repo.record_payment(
        args.invoice_id, to_cents(args.amount), paid_at=_moment(args.paid_on)
    )
    await record_change(ctx, "payment", "invoice", invoice.id, before=before,
                        after=invoice_state(invoice))
    return invoice


@tool(
    risk=Risk.HIGH, permission="billing", title="Cancel invoice {invoice_id}",
    examples=("void invoice INV-00042, it was a mistake", "cancel the duplicate Acme invoice"),
)
async def cancel_invoice(ctx: ToolContext, args: CancelInvoiceArgs) -> InvoiceResult:
    """Void an invoice that nobody has paid anything on (draft, sent or overdue); the reason is
    kept in its notes. Paid or partly paid invoices cannot be cancelled."""
    repo = InvoiceRepository(ctx.session, ctx.scope)
    invoice = await repo.get(args.invoice_id)
    await ctx.session.refresh(invoice, with_for_update=True)
    if invoice.status in CLOSED or invoice.amount_paid_cents > 0:
        state = "partly paid" if invoice.status not in CLOSED else str(invoice.status)
        raise ToolFailed(f"invoice {invoice.invoice_number} is {state}; it cannot be cancelled")
    before = invoice_state(invoice)
    note = f"Cancelled: {args.reason}" if args.reason else "Cancelled"
    invoice = await repo.update(
        invoice.id, status=InvoiceStatus.CANCELLED,
        notes=f"{invoice.notes}\n{note}" if invoice.notes else note,
    )
    await record_change(ctx, "cancel", "invoice", invoice.id, before=before,
                        after=invoice_state(invoice))
    return await _detail(ctx, invoice.id)


@tool(risk=Risk.LOW, examples=("who owes us money?", "list overdue invoices",
                               "how much is overdue right now?"))
async def list_overdue_invoices(ctx: ToolContext, args: ListOverdueArgs) -> OverdueInvoices:
    """List sent invoices past their due date with an unpaid balance, the longest overdue first,
    with how many days late each is and the total at risk per currency."""
    overdue = await InvoiceRepository(ctx.session, ctx.scope).overdue(today())
    shown = overdue.invoices[: args.limit]
    names = await customer_names(ctx, (i.customer_id for i in shown))
    return OverdueInvoices(
        invoices=[InvoiceOut.of(i, names.get(i.customer_id)) for i in shown],
        total=len(overdue.invoices),
        at_risk=[MoneyOut(amount=major_units(c), currency=k)
                 for k, c in sorted(overdue.at_risk_cents.items())],
    )


@tool(risk=Risk.LOW, examples=("how did we do financially this month?", "finance summary for "
                               "last quarter", "what did we spend on travel this year?"))
async def get_finance_summary(ctx: ToolContext, args: FinanceSummaryArgs) -> FinanceSummaryResult:
    """Summarise a period in one currency: invoiced, collected and still outstanding on invoices
    issued in the period, expenses dated in it by category and status, and the net (collected
    minus expenses). Amounts are in major units. Periods: this/last month, quarter or year,
    the last 30 days, or custom with start and end dates."""
    if args.period == Period.CUSTOM:
        start, end = args.start, args.end
    else:
        start, end = period_bounds(args.period, today())
    assert start is not None and end is not None  # the argument model enforces both for custom
    currency = args.currency or (await workspace_info(ctx)).currency
    s = await InvoiceRepository(ctx.session, ctx.scope).finance_summary(
        start, end, currency=currency
    )
    return FinanceSummaryResult(
        start=start, end=end, currency=currency, invoiced=major_units(s.invoiced_cents),
        collected=major_units(s.collected_cents), outstanding=major_units(s.outstanding_cents),
        expenses=major_units(s.expenses_cents - s.expenses_by_status.get(REJECTED, 0)),
        net=major_units(s.net_cents),
        expenses_by_category=[CategoryTotal(category=k, amount=major_units(v))
                              for k, v in sorted(s.expenses_by_category.items())],
        expenses_by_status=[StatusTotal(status=k, amount=major_units(v))
                            for k, v in sorted(s.expenses_by_status.items())],
    )


# -- expenses --------------------------------------------------------------------------------


async def _expense(ctx: ToolContext, expense_id: uuid.UUID) -> ExpenseResult:
    expense = await ExpenseRepository(ctx.session, ctx.scope).get(expense_id)
    return ExpenseResult(expense=ExpenseOut.of(expense))


@tool(
    risk=Risk.MEDIUM, title="Submit expense: {description} ({amount})",
    examples=("I spent $84.20 on a client dinner at Nobu", "submit my Delta flight, 412 dollars, "
              "travel", "expense the Figma subscription, 45 USD"),
)
async def submit_expense(ctx: ToolContext, args: SubmitExpenseArgs) -> ExpenseResult:
    """Submit an expense the caller paid, for approval. The amount is in major units (84.20);
    it enters the queue as pending until someone with billing rights approves or rejects it."""
    earlier = await replayed(ctx, "create", "expense")
    if earlier is not None:
        return await _expense(ctx, earlier)
    spent_on = args.spent_on or today()
    if spent_on > today():
        raise RetryableToolError(f"spent_on {spent_on} is in the future")
    expense = await ExpenseRepository(ctx.session, ctx.scope).create(
        description=args.description, amount_cents=to_cents(args.amount),
        currency=args.currency or (await workspace_info(ctx)).currency, category=args.category,
        date=spent_on, vendor=args.vendor, receipt=args.receipt_url, project_id=args.project_id,
        submitted_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "expense", expense.id, after=expense_state(expense))
    return ExpenseResult(expense=ExpenseOut.of(expense))


Transition = Callable[[ExpenseRepository], Awaitable[Expense]]


async def _transition(
    ctx: ToolContext, action: str, expense_id: uuid.UUID, change: Transition
) -> ExpenseResult:
    """Apply one approval-queue step once, with its audit row; a replayed call returns it."""
    earlier = await replayed(ctx, action, "expense")
    if earlier is not None:
        return await _expense(ctx, earlier)
    repo = ExpenseRepository(ctx.session, ctx.scope)
    before = expense_state(await repo.get(expense_id))
    expense = await change(repo)
    await record_change(ctx, action, "expense", expense.id, before=before,
                        after=expense_state(expense))
    return ExpenseResult(expense=ExpenseOut.of(expense))


@tool(
    risk=Risk.HIGH, permission="billing", title="Approve expense {expense_id}",
    examples=("approve Sam's hotel expense", "approve all of the pending travel expenses"),
)
async def approve_expense(ctx: ToolContext, args: ExpenseRef) -> ExpenseResult:
    """Approve a pending expense (find them with list_expenses status=pending); the caller is
    recorded as approver. Approved expenses can then be marked reimbursed."""
    return await _transition(
        ctx, "approve", args.expense_id,
        lambda repo: repo.approve(args.expense_id, ctx.caller.user_id),
    )


@tool(
    risk=Risk.MEDIUM, permission="billing", title="Reject expense {expense_id}",
    examples=("reject the Nobu dinner, it is over the limit", "decline that expense: no receipt"),
)
async def reject_expense(ctx: ToolContext, args: RejectExpenseArgs) -> ExpenseResult:
    """Reject a pending expense with a reason the submitter will see."""
    return await _transition(
        ctx, "reject", args.expense_id,
        lambda repo: repo.reject(args.expense_id, ctx.caller.user_id, args.reason),
    )


@tool(
    risk=Risk.HIGH, permission="billing", title="Mark expense {expense_id} reimbursed",
    examples=("we paid Sam back for the flight", "mark the approved expenses as reimbursed"),
)
async def reimburse_expense(ctx: ToolContext, args: ExpenseRef) -> ExpenseResult:
    """Record that an approved expense has been paid back to the person who submitted it. This
    records the fact; it does not move money."""
    return await _transition(
        ctx, "reimburse", args.expense_id, lambda repo: repo.reimburse(args.expense_id)
    )


@tool(risk=Risk.LOW, examples=("which expenses are waiting for approval?", "show my expenses",
                               "list this project's travel expenses"))
async def list_expenses(ctx: ToolContext, args: ListExpensesArgs) -> ExpenseList:
    """List expenses, most recently spent first, filtered by status (pending = the approval
    queue), category, project, or only the caller's own. Amounts are in major units."""
    filters: dict[str, Any] = {
        k: v for k, v in (("status", args.status), ("category", args.category),
                          ("project_id", args.project_id)) if v is not None
    }
    if args.only_mine:
        filters["submitted_by"] = ctx.caller.user_id
    if args.project_id is not None:  # an unknown id is an error, not an empty list
        await ProjectRepository(ctx.session, ctx.scope).get(args.project_id)
    repo = ExpenseRepository(ctx.session, ctx.scope)
    page = await repo.list(limit=args.limit, sort="date", **filters)
    return ExpenseList(
        expenses=[ExpenseOut.of(e) for e in page.items], total=await repo.count(**filters),
        has_more=page.next_cursor is not None,
    )
