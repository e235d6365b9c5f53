"""Sales detectors: deals stalled in a late stage, deals past their expected close date, hot
leads nobody has contacted, and the milestone of a best month."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

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
from store.models.crm import Contact, ContactStatus, Deal, DealStage
from store.repositories.crm import ContactRepository, DealRepository

LATE_STAGES = (DealStage.PROPOSAL, DealStage.NEGOTIATION)
OPEN_STAGES = [s for s in DealStage if s.is_open]
STALLED_AFTER_DAYS = 14
HOT_LEAD_SCORE = 70
UNCONTACTED_DAYS = 7
MAX_FINDINGS = 50


def _follow_up(deal: Deal, ctx: DetectorContext, why: str) -> Suggested:
    return Suggested("create_task", {
        "title": f"Follow up on {deal.name}"[:300], "priority": "high",
        "due_date": (ctx.today + timedelta(days=1)).isoformat(),
        "assignee_id": str(deal.owner_id) if deal.owner_id else None, "description": why,
    }, "Create a follow-up task")


def _deal_data(deal: Deal) -> dict[str, object]:
    return {"deal": deal.name, "stage": str(deal.stage), "value": money(deal.value_cents,
            deal.currency), "owner_id": str(deal.owner_id) if deal.owner_id else None}


@detector("stalled_deals")
async def stalled_deals(ctx: DetectorContext) -> list[Finding]:
    """Deals in proposal or negotiation whose stage has not moved for two weeks."""
    cutoff = ctx.ago(days=STALLED_AFTER_DAYS)
    stmt = DealRepository(ctx.session, ctx.scope).select().where(
        Deal.stage.in_(LATE_STAGES), Deal.stage_changed_at < cutoff,
    ).order_by(Deal.value_cents.desc()).limit(MAX_FINDINGS)
    return [_stalled(ctx, deal) for deal in await ctx.session.scalars(stmt)]


def _stalled(ctx: DetectorContext, deal: Deal) -> Finding:
    days = (ctx.now - deal.stage_changed_at).days
    why = f"{deal.name} has been in {deal.stage} for {days} days without moving."
    return Finding(
        key=str(deal.id), type=InsightType.WARNING,
        priority=clamp_priority(50 + amount_bucket(deal.value_cents) * 2 + days / 7),
        title=f"{deal.name} is stalled in {deal.stage}", description=why,
        state={"stage": str(deal.stage), "amount": amount_bucket(deal.value_cents)},
        data={**_deal_data(deal), "days_in_stage": days},
        record_type="deal", record_id=deal.id,
        actions=(_follow_up(deal, ctx, why),
                 Suggested("get_deal", {"deal_id": str(deal.id)}, "Open the deal")),
    )


@detector("deals_past_close")
async def deals_past_close(ctx: DetectorContext) -> list[Finding]:
    """Open deals whose expected close date has passed."""
    stmt = DealRepository(ctx.session, ctx.scope).select().where(
        Deal.stage.in_(OPEN_STAGES), Deal.expected_close_date < ctx.today,
    ).order_by(Deal.expected_close_date).limit(MAX_FINDINGS)
    return [_past_close(ctx, deal) for deal in await ctx.session.scalars(stmt)]


def _past_close(ctx: DetectorContext, deal: Deal) -> Finding:
    assert deal.expected_close_date is not None
    late = (ctx.today - deal.expected_close_date).days
    return Finding(
        key=str(deal.id), type=InsightType.WARNING,
        priority=clamp_priority(45 + amount_bucket(deal.value_cents) * 2 + late / 3),
        title=f"{deal.name} was expected to close {late} days ago",
        description=(f"{deal.name} ({money(deal.value_cents, deal.currency)}) is still "
                     f"{deal.stage}; its expected close date was "
                     f"{deal.expected_close_date.isoformat()}. Update the date or close it."),
        state={"expected": deal.expected_close_date.isoformat(), "stage": str(deal.stage)},
        data={**_deal_data(deal), "days_late": late},
        record_type="deal", record_id=deal.id,
        actions=(Suggested("update_deal", {
            "deal_id": str(deal.id),
            "expected_close_date": (ctx.today + timedelta(days=14)).isoformat(),
        }, "Move the close date two weeks out"),),
    )


@detector("hot_leads_uncontacted")
async def hot_leads_uncontacted(ctx: DetectorContext) -> list[Finding]:
    """Leads scoring high that nobody has contacted in a week (or ever)."""
    cutoff = ctx.ago(days=UNCONTACTED_DAYS)
    stmt = ContactRepository(ctx.session, ctx.scope).select().where(
        Contact.status == ContactStatus.LEAD, Contact.lead_score >= HOT_LEAD_SCORE,
        sa.or_(Contact.last_contacted_at.is_(None), Contact.last_contacted_at < cutoff),
        Contact.created_at < ctx.ago(hours=24),
    ).order_by(Contact.lead_score.desc()).limit(MAX_FINDINGS)
    return [_hot_lead(ctx, c) for c in await ctx.session.scalars(stmt)]


def _hot_lead(ctx: DetectorContext, contact: Contact) -> Finding:
    name = contact.full_name or "A lead"
    never = contact.last_contacted_at is None
    return Finding(
        key=str(contact.id), type=InsightType.OPPORTUNITY,
        priority=clamp_priority(contact.lead_score * 0.8),
        title=f"Hot lead {name} is waiting for a first contact" if never
        else f"Hot lead {name} has not heard from us in a week",
        description=f"{name} scores {contact.lead_score}"
                    + (f" at {contact.company}" if contact.company else "") + ".",
        state={"score": contact.lead_score // 10, "contacted": never},
        data={"contact": name, "lead_score": contact.lead_score, "email": contact.email},
        record_type="contact", record_id=contact.id, lifetime=timedelta(days=3),
        actions=(Suggested("create_task", {
            "title": f"Contact {name}"[:300], "priority": "high",
            "due_date": ctx.today.isoformat(),
            "assignee_id": str(contact.owner_id) if contact.owner_id else None,
        }, "Create a task to reach out"),),
    )



BEST_MONTH_LOOKBACK = 6


@detector("best_month")
async def best_month(ctx: DetectorContext) -> list[Finding]:
    """A milestone: this month's won deals are worth more than any of the last six months'
    (per currency, and only once there is an earlier month to beat)."""
    first = ctx.today.replace(day=1)
    since = (first - timedelta(days=31 * BEST_MONTH_LOOKBACK)).replace(day=1)
    month = sa.func.date_trunc("month", Deal.actual_close_date)
    stmt = DealRepository(ctx.session, ctx.scope).select().with_only_columns(
        Deal.currency, month, sa.func.sum(Deal.value_cents), sa.func.count(),
    ).where(
        Deal.stage == DealStage.CLOSED_WON, Deal.actual_close_date >= since,
        Deal.actual_close_date <= ctx.today,
    ).group_by(Deal.currency, month)
    totals: dict[str, dict[bool, list[tuple[int, int]]]] = {}
    for currency, start, cents, count in (await ctx.session.execute(stmt)).all():
        current = start.date() == first
        totals.setdefault(currency, {True: [], False: []})[current].append((int(cents), count))
    return [_best(ctx, currency, by[True][0], max(c for c, _ in by[False]))
            for currency, by in sorted(totals.items())
            if by[True] and by[False] and by[True][0][0] > max(c for c, _ in by[False])]


def _best(ctx: DetectorContext, currency: str, won: tuple[int, int], record: int) -> Finding:
    cents, deals = won
    month = ctx.today.strftime("%B %Y")
    return Finding(
        key=f"{ctx.today:%Y-%m}:{currency}", type=InsightType.MILESTONE,
        priority=clamp_priority(35 + amount_bucket(cents)),
        title=f"Best month in half a year: {money(cents, currency)} won in {month}",
        description=f"{deals} deal{'s' if deals != 1 else ''} won this month, worth "
                    f"{money(cents, currency)}; the best of the previous six months was "
                    f"{money(record, currency)}.",
        state={"amount": amount_bucket(cents)},
        data={"won_cents": cents, "deals": deals, "previous_best_cents": record,
              "currency": currency},
        expires_at=_next_month(ctx),
        actions=(Suggested("search_deals", {"stage": "closed_won", "limit": 20},
                           "Show the won deals"),),
    )


def _next_month(ctx: DetectorContext) -> datetime:
    first = ctx.today.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return datetime.combine(following, time(), tzinfo=UTC)
