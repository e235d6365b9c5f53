"""Marketing demo data: three channels, four rule-based segments over the CRM contacts, lead
scoring/routing/automation rules, and campaigns in every status whose recipients and metrics come
from their segments.

Lead scores are recomputed from the scoring rules and segment counts from their rules, so the
demo shows the same numbers the assistant's tools will compute.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from store.demo.context import DemoContext
from store.models.marketing import (
    ActionType,
    AutomationStatus,
    CampaignStatus,
    CampaignType,
    ChannelStatus,
    ChannelType,
    ConditionOperator,
    RecipientStatus,
    ScoringType,
    TriggerType,
)
from store.repositories.marketing import (
    AutomationRuleRepository,
    CampaignRecipientRepository,
    CampaignRepository,
    ChannelRepository,
    LeadRoutingRuleRepository,
    LeadScoringRuleRepository,
    SegmentRepository,
)

Op = ConditionOperator
EXECUTIVES = ["CEO", "CTO", "CFO", "Founder", "VP Sales", "IT Director"]


async def seed(ctx: DemoContext) -> None:
    channels = await _channels(ctx)
    await _scoring_and_routing(ctx)
    segments = await _segments(ctx)
    await _campaigns(ctx, channels, segments)
    await _automations(ctx)


async def _channels(ctx: DemoContext) -> dict[ChannelType, uuid.UUID]:
    specs = [
        ("Email newsletter", ChannelType.EMAIL, 200_000, 142_500,
         {"from_name": ctx.company_name, "from_email": "news@example.com"}),
        ("LinkedIn", ChannelType.SOCIAL, 500_000, 521_300, {"page": ctx.company_name}),
        ("Google Ads", ChannelType.ADS, 1_000_000, 734_000, {"daily_cap_cents": 40_000}),
    ]
    rows = [{"name": name, "type": kind, "status": ChannelStatus.ACTIVE, "budget_cents": budget,
             "spent_cents": spent, "config": config,
             "metrics": {"impressions": ctx.rng.randint(20_000, 400_000),
                         "clicks": ctx.rng.randint(500, 9_000)}}
            for name, kind, budget, spent, config in specs]
    ids = ctx.remember("marketing_channels",
                       await ChannelRepository(ctx.session, ctx.scope).create_many(rows))
    return {spec[1]: channel_id for spec, channel_id in zip(specs, ids, strict=True)}


def _rule(field: str, operator: Op, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


async def _scoring_and_routing(ctx: DemoContext) -> None:
    scoring = [
        ("Executive title", ScoringType.DEMOGRAPHIC, 25, _rule("job_title", Op.IN, EXECUTIVES)),
        ("Referred", ScoringType.DEMOGRAPHIC, 20, _rule("source", Op.EQ, "referral")),
        ("Webinar attendee", ScoringType.ENGAGEMENT, 10, _rule("tags", Op.HAS_TAG, "webinar")),
        ("VIP", ScoringType.DEMOGRAPHIC, 20, _rule("tags", Op.HAS_TAG, "vip")),
        ("Enterprise", ScoringType.DEMOGRAPHIC, 15, _rule("tags", Op.HAS_TAG, "enterprise")),
        ("On a trial", ScoringType.BEHAVIORAL, 15, _rule("tags", Op.HAS_TAG, "trial")),
        ("Talked recently", ScoringType.ENGAGEMENT, 15,
         _rule("last_contacted_at", Op.WITHIN_LAST_DAYS, 30)),
        ("Gone quiet", ScoringType.ENGAGEMENT, -10, _rule("last_contacted_at", Op.IS_NOT_SET)),
        ("Churned", ScoringType.BEHAVIORAL, -30, _rule("status", Op.EQ, "churned")),
    ]
    rules = [{"name": name, "type": kind, "points": points, "priority": len(scoring) - i,
              "is_active": name != "Gone quiet", **cond}
             for i, (name, kind, points, cond) in enumerate(scoring)]
    scoring_repo = LeadScoringRuleRepository(ctx.session, ctx.scope)
    ctx.remember("lead_scoring_rules", await scoring_repo.create_many(rules))
    await scoring_repo.recompute_lead_scores()
    routing = [
        {"name": "Enterprise leads to the account executive", "priority": 30,
         "conditions": {"match": "all", "conditions": [_rule("tags", Op.HAS_TAG, "enterprise")]},
         "assign_to": ctx.user_ids[0]},
        {"name": "Hot inbound leads round-robin", "priority": 20, "round_robin": True,
         "round_robin_users": [str(u) for u in ctx.user_ids],
         "conditions": {"match": "all", "conditions": [_rule("status", Op.EQ, "lead"),
                                                       _rule("lead_score", Op.GTE, 40)]}},
        {"name": "Everyone else to the owner", "priority": 0, "assign_to": ctx.user_ids[0],
         "conditions": {"match": "all", "conditions": []}},
    ]
    ctx.remember("lead_routing_rules",
                 await LeadRoutingRuleRepository(ctx.session, ctx.scope).create_many(routing))


SEGMENTS = {
    "newsletter": ("Newsletter subscribers", "Everyone who opted into the monthly newsletter",
                   {"match": "all", "conditions": [_rule("tags", Op.HAS_TAG, "newsletter")]}),
    "hot": ("Hot leads", "Open leads scoring 40 or more",
            {"match": "all", "conditions": [_rule("status", Op.EQ, "lead"),
                                            _rule("lead_score", Op.GTE, 40)]}),
    "executives": ("Decision makers", "Executives at companies we work with",
                   {"match": "all", "conditions": [_rule("job_title", Op.IN, EXECUTIVES),
                                                   _rule("email", Op.IS_SET)]}),
    "events": ("Event and trial audience", "Came through a webinar or is on a trial",
               {"match": "any", "conditions": [_rule("source", Op.EQ, "webinar"),
                                               _rule("tags", Op.HAS_TAG, "webinar"),
                                               _rule("tags", Op.HAS_TAG, "trial")]}),
}


async def _segments(ctx: DemoContext) -> dict[str, uuid.UUID]:
    repo = SegmentRepository(ctx.session, ctx.scope)
    rows = [{"name": name, "description": about, "rules": rules}
            for name, about, rules in SEGMENTS.values()]
    ids = ctx.remember("segments", await repo.create_many(rows))
    for segment_id in ids:
        await repo.recalculate(segment_id)
    return dict(zip(SEGMENTS, ids, strict=True))


#: name, type, status, segment key, subject, days from now it was/is scheduled
CAMPAIGNS: list[tuple[str, CampaignType, CampaignStatus, str | None, str | None, int]] = [
    ("Spring product update", CampaignType.EMAIL, CampaignStatus.COMPLETED, "newsletter",
     "What's new this spring", -75),
    ("Webinar follow-up", CampaignType.EMAIL, CampaignStatus.COMPLETED, "events",
     "Slides and recording inside", -40),
    ("Executive roundtable invite", CampaignType.EMAIL, CampaignStatus.COMPLETED, "executives",
     "Join our CXO roundtable", -20),
    ("Trial nurture sequence", CampaignType.EMAIL, CampaignStatus.ACTIVE, "events",
     "Getting the most from your trial", -3),
    ("Hot lead SMS nudge", CampaignType.SMS, CampaignStatus.PAUSED, "hot", None, -6),
    ("Monthly newsletter", CampaignType.EMAIL, CampaignStatus.SCHEDULED, "newsletter",
     "Your monthly digest", 4),
    ("Q3 launch teaser", CampaignType.EMAIL, CampaignStatus.SCHEDULED, None, None, 10),
    ("Summer promo (draft)", CampaignType.EMAIL, CampaignStatus.DRAFT, "hot", None, 0),
]


async def _campaigns(
    ctx: DemoContext, channels: dict[ChannelType, uuid.UUID], segments: dict[str, uuid.UUID]
) -> None:
    repo = CampaignRepository(ctx.session, ctx.scope)
    rows = [_campaign(ctx, spec, channels, segments) for spec in CAMPAIGNS]
    ids = ctx.remember("campaigns", await repo.create_many(rows))
    segment_repo = SegmentRepository(ctx.session, ctx.scope)
    recipients: list[dict[str, Any]] = []
    for campaign_id, row in zip(ids, rows, strict=True):
        if row["segment_id"] is None or row["status"] == CampaignStatus.DRAFT:
            continue
        members = await segment_repo.member_ids(row["segment_id"])
        recipients += _recipients(ctx, campaign_id, row, members)
    ctx.remember("campaign_recipients",
                 await CampaignRecipientRepository(ctx.session, ctx.scope).create_many(recipients))
    for campaign_id, row in zip(ids, rows, strict=True):
        if row["status"] != CampaignStatus.DRAFT and row["segment_id"] is not None:
            await repo.refresh_metrics(campaign_id)


def _campaign(
    ctx: DemoContext, spec: tuple[str, CampaignType, CampaignStatus, str | None, str | None, int],
    channels: dict[ChannelType, uuid.UUID], segments: dict[str, uuid.UUID],
) -> dict[str, Any]:
    name, kind, status, segment, subject, days = spec
    when = ctx.now + timedelta(days=days)
    started = status in (CampaignStatus.ACTIVE, CampaignStatus.PAUSED, CampaignStatus.COMPLETED)
    return {
        "name": name, "type": kind, "status": status, "subject": subject,
        "channel_id": channels[ChannelType.EMAIL] if kind == CampaignType.EMAIL else None,
        "segment_id": segments[segment] if segment else None,
        "content": {"headline": name, "body": f"Hello from {ctx.company_name}!",
                    "cta_url": "https://example.com/offer"},
        "scheduled_at": when if status != CampaignStatus.DRAFT else None,
        "sent_at": when if started else None,
        "completed_at": when + timedelta(days=2) if status == CampaignStatus.COMPLETED else None,
        "budget_cents": 50_000, "spent_cents": 50_000 if started else 0,
        "created_by": ctx.user(),
    }


def _recipients(
    ctx: DemoContext, campaign_id: uuid.UUID, campaign: dict[str, Any], members: list[uuid.UUID]
) -> list[dict[str, Any]]:
    """A plausible funnel: most delivered, a third opened, some clicked, a few converted."""
    open_rate = ctx.rng.uniform(0.2, 0.5)
    sent_at: datetime | None = campaign["sent_at"]
    rows = []
    for contact_id in members:
        status = _outcome(ctx, open_rate) if sent_at else RecipientStatus.PENDING
        if campaign["status"] == CampaignStatus.ACTIVE and ctx.rng.random() < 0.3:
            status = RecipientStatus.PENDING  # still going out
        if campaign["type"] == CampaignType.SMS and status == RecipientStatus.OPENED:
            status = RecipientStatus.DELIVERED  # texts report no opens
        rows.append({"campaign_id": campaign_id, "contact_id": contact_id, "status": status,
                     **_times(ctx, status, sent_at)})
    return rows


def _outcome(ctx: DemoContext, open_rate: float) -> RecipientStatus:
    roll = ctx.rng.random()
    if roll < 0.04:
        return RecipientStatus.BOUNCED
    if roll < 0.05:
        return RecipientStatus.UNSUBSCRIBED
    if ctx.rng.random() > open_rate:
        return RecipientStatus.DELIVERED
    step = ctx.rng.random()
    if step < 0.03:
        return RecipientStatus.CONVERTED
    return RecipientStatus.CLICKED if step < 0.25 else RecipientStatus.OPENED


def _times(ctx: DemoContext, status: RecipientStatus, sent: datetime | None) -> dict[str, Any]:
    if sent is None or status == RecipientStatus.PENDING:
        return {}
    times: dict[str, Any] = {"sent_at": sent}
    if status == RecipientStatus.BOUNCED:
        return {**times, "error_message": "550 mailbox unavailable"}
    times["delivered_at"] = sent + timedelta(minutes=ctx.rng.randint(1, 20))
    if status in (RecipientStatus.OPENED, RecipientStatus.CLICKED, RecipientStatus.CONVERTED):
        times["opened_at"] = sent + timedelta(hours=ctx.rng.randint(1, 48))
    if status in (RecipientStatus.CLICKED, RecipientStatus.CONVERTED):
        times["clicked_at"] = times["opened_at"] + timedelta(minutes=ctx.rng.randint(1, 30))
    return times


async def _automations(ctx: DemoContext) -> None:
    specs = [
        ("Welcome new leads", TriggerType.LEAD_CREATED, ActionType.SEND_EMAIL,
         {"template": "welcome"}, AutomationStatus.ACTIVE, 212),
        ("Task when a deal reaches negotiation", TriggerType.DEAL_STAGE_CHANGED,
         ActionType.CREATE_TASK, {"title": "Prepare contract", "due_in_days": 2},
         AutomationStatus.ACTIVE, 37),
        ("Tag engaged readers", TriggerType.EMAIL_CLICKED, ActionType.ADD_TAG,
         {"tag": "engaged"}, AutomationStatus.ACTIVE, 148),
        ("Route hot leads", TriggerType.LEAD_SCORE_CHANGED, ActionType.ASSIGN_OWNER,
         {"min_score": 60}, AutomationStatus.ACTIVE, 19),
        ("Notify on won deals", TriggerType.DEAL_WON, ActionType.SEND_NOTIFICATION,
         {"channel": "general"}, AutomationStatus.PAUSED, 8),
        ("Overdue invoice reminder", TriggerType.INVOICE_OVERDUE, ActionType.SEND_EMAIL,
         {"template": "payment_reminder"}, AutomationStatus.DRAFT, 0),
    ]
    rows = [{
        "name": name, "trigger_type": trigger, "action_type": action,
        "trigger_config": {"stage": "negotiation"} if trigger == TriggerType.DEAL_STAGE_CHANGED
        else {},
        "action_config": config, "status": status, "execution_count": runs,
        "last_executed_at": ctx.days_ago(0, 10) if runs else None, "created_by": ctx.user(),
    } for name, trigger, action, config, status, runs in specs]
    ctx.remember("automation_rules",
                 await AutomationRuleRepository(ctx.session, ctx.scope).create_many(rows))
