"""CRM demo data: a few hundred contacts, deals in every stage, interactions, customers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from store.demo.context import DemoContext
from store.demo.names import COMPANIES, FIRST_NAMES, JOB_TITLES, LAST_NAMES, SOURCES
from store.models.crm import (
    ContactStatus,
    DealStage,
    Direction,
    InteractionType,
    Priority,
    ProjectStatus,
    ProspectStage,
)
from store.repositories.crm import (
    ContactRepository,
    CustomerRepository,
    DealRepository,
    InteractionRepository,
    ProjectRepository,
    ProspectRepository,
)

STAGE_PROBABILITY = {
    DealStage.QUALIFICATION: 10,
    DealStage.DISCOVERY: 25,
    DealStage.PROPOSAL: 50,
    DealStage.NEGOTIATION: 75,
    DealStage.CLOSED_WON: 100,
    DealStage.CLOSED_LOST: 0,
}
DEAL_KINDS = [
    "Platform licence",
    "Annual renewal",
    "Pilot",
    "Expansion",
    "Onboarding package",
    "Enterprise plan",
    "Support add-on",
    "Data migration",
]


def _contact(ctx: DemoContext, i: int) -> dict[str, Any]:
    first, last = ctx.rng.choice(FIRST_NAMES), ctx.rng.choice(LAST_NAMES)
    company = ctx.rng.choice(COMPANIES)
    domain = company.lower().replace(" ", "").replace(".", "") + ".com"
    status = ctx.rng.choices(list(ContactStatus), weights=[40, 30, 10, 15, 5])[0]
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}.{last.lower()}{i}@{domain}",
        "phone": f"+1415555{1000 + i:04d}",
        "company": company,
        "job_title": ctx.rng.choice(JOB_TITLES),
        "source": ctx.rng.choice(SOURCES),
        "status": status,
        "owner_id": ctx.user(),
        "tags": ctx.rng.sample(
            ["vip", "newsletter", "webinar", "trial", "partner", "enterprise"],
            k=ctx.rng.randint(0, 2),
        ),
        "lead_score": ctx.rng.randint(0, 100),
        "last_contacted_at": ctx.days_ago(0, 90) if ctx.rng.random() < 0.7 else None,
        "created_at": ctx.days_ago(30, 400),
    }


def _deal(ctx: DemoContext, contact_ids: list[Any]) -> dict[str, Any]:
    stage = ctx.rng.choice(list(DealStage))
    closed = not stage.is_open
    return {
        "name": f"{ctx.rng.choice(COMPANIES)} — {ctx.rng.choice(DEAL_KINDS)}",
        "contact_id": ctx.rng.choice(contact_ids),
        "value_cents": ctx.rng.randrange(2_000, 150_000, 500) * 100,
        "currency": "USD",
        "stage": stage,
        "probability": STAGE_PROBABILITY[stage],
        "priority": ctx.rng.choice(list(Priority)),
        "expected_close_date": ctx.day_offset(-30, 120),
        "actual_close_date": ctx.day_offset(-60, -1) if closed else None,
        "owner_id": ctx.user(),
        "source": ctx.rng.choice(SOURCES),
        "lost_reason": "Chose a competitor" if stage == DealStage.CLOSED_LOST else None,
        "stage_changed_at": ctx.days_ago(0, 60),
    }


async def seed(ctx: DemoContext) -> None:
    contacts = ContactRepository(ctx.session, ctx.scope)
    contact_ids = ctx.remember(
        "contacts", await contacts.create_many([_contact(ctx, i) for i in range(ctx.count(300))])
    )
    deals = [_deal(ctx, contact_ids) for _ in range(ctx.count(80, minimum=len(DealStage)))]
    for stage, deal in zip(DealStage, deals, strict=False):  # every stage present
        deal.update(stage=stage, probability=STAGE_PROBABILITY[stage])
    ctx.remember("deals", await DealRepository(ctx.session, ctx.scope).create_many(deals))
    await _interactions(ctx, contact_ids)
    await _customers_and_projects(ctx, contact_ids)


async def _interactions(ctx: DemoContext, contact_ids: list[Any]) -> None:
    subjects = [
        "Intro call",
        "Pricing questions",
        "Demo follow-up",
        "Contract review",
        "Quarterly check-in",
        "Onboarding kickoff",
        "Renewal discussion",
    ]
    rows = []
    for _ in range(ctx.count(400)):
        kind = ctx.rng.choice(list(InteractionType))
        when = ctx.days_ago(0, 120)
        rows.append(
            {
                "contact_id": ctx.rng.choice(contact_ids),
                "type": kind,
                "direction": ctx.rng.choice(list(Direction)),
                "subject": ctx.rng.choice(subjects),
                "content": "Discussed goals, timeline and next steps; they asked for a proposal.",
                "outcome": ctx.rng.choice(["positive", "neutral", "follow_up", None]),
                "duration_seconds": ctx.rng.randint(300, 3600)
                if kind == InteractionType.CALL
                else None,
                "completed_at": when,
                "created_at": when,
                "user_id": ctx.user(),
            }
        )
    ctx.remember(
        "crm_interactions", await InteractionRepository(ctx.session, ctx.scope).create_many(rows)
    )


async def _customers_and_projects(ctx: DemoContext, contact_ids: list[Any]) -> None:
    names = ctx.rng.sample(COMPANIES, k=min(len(COMPANIES), ctx.count(40)))
    customers = [
        {
            "name": name,
            "company": name,
            "email": f"billing@{name.lower().replace(' ', '').replace('.', '')}.com",
            "status": ctx.rng.choices(
                ["active", "inactive", "churned", "lead"], weights=[70, 10, 10, 10]
            )[0],
            "assigned_to": ctx.user(),
            "lifetime_value_cents": ctx.rng.randrange(5_000, 400_000) * 100,
            "last_order_at": ctx.days_ago(1, 200),
        }
        for name in names
    ]
    customer_ids = ctx.remember(
        "customers", await CustomerRepository(ctx.session, ctx.scope).create_many(customers)
    )
    projects = [
        {
            "customer_id": ctx.rng.choice(customer_ids),
            "name": ctx.rng.choice(["Rollout", "Integration", "Migration", "Training", "Pilot"])
            + f" phase {i + 1}",
            "status": ctx.rng.choice(list(ProjectStatus)),
            "budget_cents": ctx.rng.randrange(10_000, 200_000, 1000) * 100,
            "start_date": ctx.day_offset(-120, -10),
            "end_date": ctx.day_offset(10, 180),
            "manager_id": ctx.user(),
        }
        for i in range(ctx.count(15))
    ]
    ctx.remember("projects", await ProjectRepository(ctx.session, ctx.scope).create_many(projects))
    prospects = [
        {
            "contact_id": ctx.rng.choice(contact_ids),
            "name": f"{ctx.rng.choice(COMPANIES)} opportunity",
            "stage": ctx.rng.choice(list(ProspectStage)),
            "value_cents": ctx.rng.randrange(1_000, 60_000) * 100,
            "expected_close_date": (ctx.now + timedelta(days=ctx.rng.randint(5, 90))).date(),
            "owner_id": ctx.user(),
            "source": ctx.rng.choice(SOURCES),
        }
        for _ in range(ctx.count(30))
    ]
    ctx.remember(
        "prospects", await ProspectRepository(ctx.session, ctx.scope).create_many(prospects)
    )
