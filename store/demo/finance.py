"""Finance demo data: invoices to CRM customers in every status (some overdue, some partly or
fully paid) and expenses in every status (some pending approval for weeks)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from store.demo.context import DemoContext
from store.models.finance import (
    ExpenseCategory,
    ExpenseStatus,
    InvoiceStatus,
    line_item_totals,
    parse_line_items,
)
from store.repositories.crm import ProjectRepository
from store.repositories.finance import ExpenseRepository, InvoiceRepository

#: (description, unit price in cents, quantity range)
CATALOGUE = [
    ("Platform licence (monthly)", 49_900, (1, 3)),
    ("Additional seats", 2_900, (5, 40)),
    ("Implementation services (hours)", 15_000, (4, 40)),
    ("Premium support", 19_900, (1, 1)),
    ("Training workshop", 120_000, (1, 2)),
    ("Data migration", 250_000, (1, 1)),
]
TAX_RATES = [0, 8.25, 20]
#: Status mix by position, so even a tiny demo has every status (and overdue ones).
INVOICE_STATUS_CYCLE = [
    InvoiceStatus.PAID, InvoiceStatus.OVERDUE, InvoiceStatus.SENT, InvoiceStatus.PAID,
    InvoiceStatus.DRAFT, InvoiceStatus.PAID, InvoiceStatus.OVERDUE, InvoiceStatus.CANCELLED,
    InvoiceStatus.SENT, InvoiceStatus.PAID,
]
VENDORS = {
    ExpenseCategory.TRAVEL: ["Delta Air Lines", "Marriott", "Uber", "Amtrak"],
    ExpenseCategory.MEALS: ["Blue Bottle Coffee", "Sweetgreen", "Nobu"],
    ExpenseCategory.SOFTWARE: ["Figma", "GitHub", "Notion", "Amazon Web Services"],
    ExpenseCategory.HARDWARE: ["Apple", "Dell", "Logitech"],
    ExpenseCategory.MARKETING: ["LinkedIn Ads", "Google Ads", "Vistaprint"],
    ExpenseCategory.OFFICE: ["Staples", "WeWork", "IKEA"],
    ExpenseCategory.UTILITIES: ["Comcast Business", "PG&E"],
    ExpenseCategory.PROFESSIONAL_SERVICES: ["Baker & Lane LLP", "Kite Accounting"],
    ExpenseCategory.TRAINING: ["O'Reilly", "Coursera"],
    ExpenseCategory.OTHER: ["USPS", "FedEx"],
}
EXPENSE_STATUS_CYCLE = [
    ExpenseStatus.APPROVED, ExpenseStatus.PENDING, ExpenseStatus.REIMBURSED,
    ExpenseStatus.PENDING, ExpenseStatus.REJECTED, ExpenseStatus.APPROVED,
]


async def seed(ctx: DemoContext) -> None:
    projects = await ProjectRepository(ctx.session, ctx.scope).get_many(ctx.ids["projects"])
    by_customer: dict[uuid.UUID, list[uuid.UUID]] = {}
    for project in projects:
        if project.customer_id is not None:
            by_customer.setdefault(project.customer_id, []).append(project.id)
    await _invoices(ctx, by_customer)
    await _expenses(ctx)


def _line_items(ctx: DemoContext) -> list[dict[str, Any]]:
    tax = ctx.rng.choice(TAX_RATES)
    chosen = ctx.rng.sample(CATALOGUE, k=ctx.rng.randint(1, 3))
    return [
        {"description": name, "quantity": ctx.rng.randint(*qty), "unit_price_cents": price,
         "tax_rate_percent": tax}
        for name, price, qty in chosen
    ]


def _issue_date(ctx: DemoContext, status: InvoiceStatus) -> date:
    """Overdue invoices were issued long enough ago to be past a 30-day term; open ones not."""
    if status == InvoiceStatus.OVERDUE:
        return ctx.day_offset(-120, -35)
    if status in (InvoiceStatus.SENT, InvoiceStatus.DRAFT):
        return ctx.day_offset(-20, 0)
    return ctx.day_offset(-180, -10)


def _at(ctx: DemoContext, day: date) -> datetime:
    return datetime.combine(day, ctx.now.timetz())


def _invoice(ctx: DemoContext, status: InvoiceStatus, customers: dict[uuid.UUID, list[uuid.UUID]]
             ) -> dict[str, Any]:
    customer_id = ctx.pick("customers")
    projects = customers.get(customer_id, [])
    items = _line_items(ctx)
    issued = _issue_date(ctx, status)
    total = line_item_totals(parse_line_items(items)).total_cents
    row: dict[str, Any] = {
        "customer_id": customer_id,
        "project_id": ctx.rng.choice(projects) if projects and ctx.rng.random() < 0.6 else None,
        "status": status, "line_items": items, "currency": "USD", "issue_date": issued,
        "due_date": issued + timedelta(days=30), "created_by": ctx.user(),
        "notes": ctx.rng.choice([None, "Net 30. Thank you for your business.", "PO 4471-B"]),
    }
    if status != InvoiceStatus.DRAFT:
        row["sent_at"] = _at(ctx, issued)
    if status == InvoiceStatus.PAID:
        paid_on = min(issued + timedelta(days=ctx.rng.randint(3, 40)), ctx.now.date())
        row.update(amount_paid_cents=total, paid_at=_at(ctx, paid_on))
    elif status == InvoiceStatus.OVERDUE and ctx.rng.random() < 0.3:
        row["amount_paid_cents"] = total // 2  # a partial payment
    return row


async def _invoices(ctx: DemoContext, customers: dict[uuid.UUID, list[uuid.UUID]]) -> None:
    n = ctx.count(40, minimum=len(INVOICE_STATUS_CYCLE))
    rows = [_invoice(ctx, INVOICE_STATUS_CYCLE[i % len(INVOICE_STATUS_CYCLE)], customers)
            for i in range(n)]
    # One sent invoice slipped past its due date without the daily job marking it yet.
    rows[2].update(issue_date=ctx.day_offset(-50, -40))
    rows[2].update(due_date=rows[2]["issue_date"] + timedelta(days=30))
    rows.sort(key=lambda r: r["issue_date"])
    for number, row in enumerate(rows, start=1):
        row["invoice_number"] = f"INV-{number:05d}"
    ctx.remember("invoices", await InvoiceRepository(ctx.session, ctx.scope).create_many(rows))


def _expense(ctx: DemoContext, status: ExpenseStatus, i: int) -> dict[str, Any]:
    category = ctx.rng.choice(list(ExpenseCategory))
    vendor = ctx.rng.choice(VENDORS[category])
    submitted = ctx.days_ago(1, 60)
    if status == ExpenseStatus.PENDING and i % 4 == 1:
        submitted = ctx.days_ago(15, 45)  # stuck in the approval queue for weeks
    row: dict[str, Any] = {
        "description": f"{vendor} — {category.value.replace('_', ' ')}",
        "amount_cents": ctx.rng.randrange(1_500, 250_000, 5), "currency": "USD",
        "category": category, "status": status, "vendor": vendor,
        "date": (submitted - timedelta(days=ctx.rng.randint(0, 5))).date(),
        "submitted_at": submitted, "created_at": submitted, "submitted_by": ctx.user(),
        "receipt": f"https://receipts.example.com/{ctx.scope.workspace_id.hex[:8]}/{i:04d}.pdf",
        "project_id": ctx.pick("projects") if ctx.rng.random() < 0.4 else None,
    }
    if status != ExpenseStatus.PENDING:
        row.update(approved_by=ctx.user(), approved_at=min(submitted + timedelta(days=2), ctx.now))
    if status == ExpenseStatus.REJECTED:
        row["rejection_reason"] = "Not covered by the travel and expense policy"
    if status == ExpenseStatus.REIMBURSED:
        row["reimbursed_at"] = min(submitted + timedelta(days=9), ctx.now)
    return row


async def _expenses(ctx: DemoContext) -> None:
    n = ctx.count(30, minimum=len(EXPENSE_STATUS_CYCLE))
    rows = [_expense(ctx, EXPENSE_STATUS_CYCLE[i % len(EXPENSE_STATUS_CYCLE)], i) for i in range(n)]
    ctx.remember("expenses", await ExpenseRepository(ctx.session, ctx.scope).create_many(rows))
