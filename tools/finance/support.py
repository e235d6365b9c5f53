"""What the finance tools need besides their repositories: workspace defaults, audit snapshots,
and the text of an invoice email."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from store.models.finance import Expense, Invoice
from store.repositories.core import WorkspaceMemberRepository
from store.repositories.crm import CustomerRepository
from tools.audit import snapshot
from tools.context import ToolContext
from tools.workspace import major_units

DEFAULT_CURRENCY = "USD"
INVOICE_FIELDS = (
    "invoice_number", "status", "customer_id", "project_id", "currency", "amount_cents",
    "tax_cents", "amount_paid_cents", "issue_date", "due_date", "sent_at", "paid_at", "notes",
    "line_items",
)
EXPENSE_FIELDS = (
    "description", "amount_cents", "currency", "category", "status", "date", "vendor",
    "receipt", "project_id", "submitted_by", "approved_by", "approved_at", "rejection_reason",
    "reimbursed_at",
)


def invoice_state(invoice: Invoice) -> dict[str, object]:
    return snapshot(invoice, INVOICE_FIELDS)


def expense_state(expense: Expense) -> dict[str, object]:
    return snapshot(expense, EXPENSE_FIELDS)


@dataclass(frozen=True)
class WorkspaceInfo:
    name: str
    currency: str


async def workspace_info(ctx: ToolContext) -> WorkspaceInfo:
    """The workspace's display name and default currency (`settings.currency`, else USD)."""
    workspace = await WorkspaceMemberRepository(ctx.session, ctx.scope).workspace()
    currency = (workspace.settings or {}).get("currency")
    if not (isinstance(currency, str) and re.fullmatch("[A-Z]{3}", currency)):
        currency = DEFAULT_CURRENCY
    return WorkspaceInfo(workspace.name, currency)


async def customer_names(
    ctx: ToolContext, ids: Iterable[uuid.UUID | None]
) -> dict[uuid.UUID | None, str]:
    """Names of the given customers (one query), for results that show who was billed."""
    wanted = {i for i in ids if i is not None}
    customers = await CustomerRepository(ctx.session, ctx.scope).get_many(wanted)
    return {c.id: c.name for c in customers}


async def customer_name(ctx: ToolContext, customer_id: uuid.UUID | None) -> str | None:
    return (await customer_names(ctx, [customer_id])).get(customer_id) if customer_id else None


def invoice_email(
    invoice: Invoice, sender: str, customer: str | None, note: str | None, *, reminder: bool
) -> tuple[str, str]:
    """Subject and plain-text body of the email that carries an invoice (or a reminder)."""
    money = f"{major_units(invoice.balance_cents)} {invoice.currency}"
    subject = (f"Reminder: invoice {invoice.invoice_number} from {sender}" if reminder
               else f"Invoice {invoice.invoice_number} from {sender}")
    lines = [f"Hello{' ' + customer if customer else ''},", ""]
    if note:
        lines += [note, ""]
    lines.append(f"Invoice {invoice.invoice_number} ({invoice.issue_date}):")
    for item in invoice.items():
        lines.append(f"  {item.description}: {item.quantity:g} x "
                     f"{major_units(item.unit_price_cents)} = {major_units(item.subtotal_cents)}")
    lines += [
        f"Subtotal {major_units(invoice.amount_cents)}, tax {major_units(invoice.tax_cents)}, "
        f"total {major_units(invoice.total_cents)} {invoice.currency}.",
        f"Amount due: {money}" + (f", by {invoice.due_date}." if invoice.due_date else "."),
        "", f"Thank you, {sender}",
    ]
    return subject, "\n".join(lines)
