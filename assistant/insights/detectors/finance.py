"""Finance detectors: overdue invoices (each, and the amount at risk in total) and expenses
waiting too long for approval."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from assistant.insights.model import (
    DetectorContext,
    Finding,
    Suggested,
    amount_bucket,
    clamp_priority,
    money,
)
from assistant.insights.registry import detector
from store.models.ai import InsightType
from store.models.finance import Expense, ExpenseStatus, Invoice, InvoiceStatus
from store.repositories.finance import ExpenseRepository, InvoiceRepository

UNPAID = (InvoiceStatus.SENT, InvoiceStatus.OVERDUE)
EXPENSE_WAIT_DAYS = 5
MAX_FINDINGS = 50


def _balance(invoice: Invoice) -> int:
    return max(0, invoice.total_cents - invoice.amount_paid_cents)


@detector("overdue_invoices")
async def overdue_invoices(ctx: DetectorContext) -> list[Finding]:
    """Sent invoices past their due date with money still owed: one insight per invoice and
    one for the total amount at risk."""
    stmt = InvoiceRepository(ctx.session, ctx.scope).select().where(
        Invoice.status.in_(UNPAID), Invoice.due_date < ctx.today,
        Invoice.total_cents > Invoice.amount_paid_cents,
    ).order_by(Invoice.due_date)
    invoices = list(await ctx.session.scalars(stmt))
    found = [_overdue(ctx, i) for i in invoices[:MAX_FINDINGS]]
    return [*found, _at_risk(invoices)] if invoices else found


def _overdue(ctx: DetectorContext, invoice: Invoice) -> Finding:
    assert invoice.due_date is not None
    late, owed = (ctx.today - invoice.due_date).days, _balance(invoice)
    return Finding(
        key=str(invoice.id), type=InsightType.WARNING,
        priority=clamp_priority(50 + amount_bucket(owed) * 2 + late / 5),
        title=f"Invoice {invoice.invoice_number} is {late} days overdue",
        description=f"{money(owed, invoice.currency)} is still owed on invoice "
                    f"{invoice.invoice_number}, due {invoice.due_date.isoformat()}.",
        state={"owed": amount_bucket(owed)},  # what is owed, not how late (that only grows)
        data={"invoice_number": invoice.invoice_number, "owed": money(owed, invoice.currency),
              "owed_cents": owed, "currency": invoice.currency, "days_late": late},
        record_type="invoice", record_id=invoice.id,
        actions=(Suggested("send_invoice", {
            "invoice_id": str(invoice.id),
            "message": f"A friendly reminder: invoice {invoice.invoice_number} was due on "
                       f"{invoice.due_date.isoformat()}.",
        }, "Send a reminder with the invoice"),),
    )


def _at_risk(invoices: list[Invoice]) -> Finding:
    owed: dict[str, int] = defaultdict(int)
    for invoice in invoices:
        owed[invoice.currency] += _balance(invoice)
    amounts = ", ".join(money(cents, cur) for cur, cents in sorted(owed.items()))
    return Finding(
        key="amount_at_risk", type=InsightType.WARNING,
        priority=clamp_priority(55 + sum(amount_bucket(c) for c in owed.values())),
        title=f"{len(invoices)} overdue invoice{'s' if len(invoices) != 1 else ''}: "
              f"{amounts} at risk",
        description=f"{amounts} is owed on invoices past their due date.",
        state={cur: amount_bucket(cents) for cur, cents in owed.items()},
        data={"invoices": len(invoices), "owed_cents": dict(owed),
              "records": [str(i.id) for i in invoices[:MAX_FINDINGS]]},
        actions=(Suggested("list_overdue_invoices", {}, "List the overdue invoices"),),
    )


@detector("expenses_awaiting_approval")
async def expenses_awaiting_approval(ctx: DetectorContext) -> list[Finding]:
    """Expenses submitted more than five days ago and still pending."""
    stmt = ExpenseRepository(ctx.session, ctx.scope).select().where(
        Expense.status == ExpenseStatus.PENDING,
        Expense.submitted_at < ctx.ago(days=EXPENSE_WAIT_DAYS),
    ).order_by(Expense.submitted_at).limit(MAX_FINDINGS)
    return [_waiting(ctx, e) for e in await ctx.session.scalars(stmt)]


def _waiting(ctx: DetectorContext, expense: Expense) -> Finding:
    days = (ctx.now - expense.submitted_at).days
    amount = money(expense.amount_cents, expense.currency)
    return Finding(
        key=str(expense.id), type=InsightType.RECOMMENDATION,
        priority=clamp_priority(35 + days + amount_bucket(expense.amount_cents)),
        title=f"Expense '{expense.description[:60]}' has waited {days} days for approval",
        description=f"{amount} submitted {days} days ago is still pending.",
        state={"status": str(expense.status), "amount": amount_bucket(expense.amount_cents)},
        data={"expense": expense.description, "amount": amount, "days_waiting": days,
              "submitted_by": str(expense.submitted_by) if expense.submitted_by else None},
        record_type="expense", record_id=expense.id, lifetime=timedelta(days=3),
        actions=(Suggested("approve_expense", {"expense_id": str(expense.id)},
                           "Approve the expense"),),
    )
