"""Marketing tools: campaigns, segments, automation rules, lead scoring and lead routing.

Scheduling a campaign is high risk: it commits the workspace to emailing a segment. It only sets
the schedule; the campaign worker sends at that time. Everything else is a reversible
configuration change (medium) or a read (low). Every write is audited in the same transaction,
and a retried call (same idempotency key) returns its first effect.

The tools live in this module so their domain is "marketing"; their argument and result models
are in `tools.marketing.schemas`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from store.models.crm import Contact
from store.models.marketing import AutomationStatus, CampaignStatus, LeadScoringRule
from store.repositories.crm import ContactRepository
from store.repositories.marketing import (
    AutomationRuleRepository,
    CampaignRepository,
    ChannelRepository,
    LeadRoutingRuleRepository,
    LeadScoringRuleRepository,
    SegmentRepository,
)
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolFailed
from tools.marketing.schemas import (
    AutomationList,
    AutomationOut,
    AutomationResult,
    CampaignContentIn,
    CampaignList,
    CampaignMetricsResult,
    CampaignOut,
    CampaignRef,
    CampaignResult,
    ContactBrief,
    CreateAutomationArgs,
    CreateCampaignArgs,
    CreateRoutingRuleArgs,
    CreateScoringRuleArgs,
    CreateSegmentArgs,
    ListAutomationsArgs,
    ListCampaignsArgs,
    ListRulesArgs,
    ListSegmentsArgs,
    PreviewSegmentArgs,
    RecomputeResult,
    RecomputeScoresArgs,
    RoutingRuleList,
    RoutingRuleOut,
    RoutingRuleResult,
    ScheduleCampaignArgs,
    ScheduleResult,
    ScoreChange,
    ScoringRuleList,
    ScoringRuleOut,
    ScoringRuleResult,
    SegmentList,
    SegmentOut,
    SegmentPreviewResult,
    SegmentResult,
    SetAutomationStatusArgs,
    UpdateCampaignArgs,
)
from tools.marketing.support import (
    AUTOMATION_FIELDS,
    CAMPAIGN_FIELDS,
    ROUTING_FIELDS,
    SCORING_FIELDS,
    SEGMENT_FIELDS,
    check_action_config,
    matching_contacts,
)
from tools.registry import Risk, tool
from tools.workspace import require_active_member, to_cents

EDITABLE = (CampaignStatus.DRAFT, CampaignStatus.PAUSED)
PAUSABLE = (CampaignStatus.SCHEDULED, CampaignStatus.ACTIVE)


# -- campaigns -------------------------------------------------------------------------------


async def _campaign(ctx: ToolContext, campaign_id: uuid.UUID) -> CampaignResult:
    campaign = await CampaignRepository(ctx.session, ctx.scope).get(campaign_id)
    return CampaignResult(campaign=CampaignOut.of(campaign))


async def _content_values(
    ctx: ToolContext, args: CampaignContentIn, content: dict[str, Any]
) -> dict[str, Any]:
    """Column values for the fields given (None means "leave as is"); ids must exist here."""
    if args.segment_id is not None:
        await SegmentRepository(ctx.session, ctx.scope).get(args.segment_id)
    if args.channel_id is not None:
        await ChannelRepository(ctx.session, ctx.scope).get(args.channel_id)
    parts = {"headline": args.headline, "body": args.body, "cta_url": args.cta_url}
    values: dict[str, Any] = {
        "subject": args.subject, "segment_id": args.segment_id, "channel_id": args.channel_id,
        "budget_cents": None if args.budget is None else to_cents(args.budget),
    }
    values = {k: v for k, v in values.items() if v is not None}
    if any(v is not None for v in parts.values()):
        values["content"] = {**content, **{k: v for k, v in parts.items() if v is not None}}
    return values


@tool(
    risk=Risk.MEDIUM, title="Create campaign {name}",
    examples=("draft an email campaign for the spring sale to hot leads", "create a campaign "
              "called Q3 launch teaser with subject 'Something big is coming'"),
)
async def create_campaign(ctx: ToolContext, args: CreateCampaignArgs) -> CampaignResult:
    """Create a draft campaign: name, type (email, sms, social, ads, content), subject and
    content, the audience segment and an optional budget in major units. Nothing is sent or
    scheduled; use schedule_campaign when it is ready (an email needs a subject and a segment)."""
    earlier = await replayed(ctx, "create", "campaign")
    if earlier is not None:
        return await _campaign(ctx, earlier)
    values = await _content_values(ctx, args, {})
    campaign = await CampaignRepository(ctx.session, ctx.scope).create(
        name=args.name, type=args.type, currency=args.currency, created_by=ctx.caller.user_id,
        **values,
    )
    await record_change(ctx, "create", "campaign", campaign.id,
                        after=snapshot(campaign, CAMPAIGN_FIELDS))
    return CampaignResult(campaign=CampaignOut.of(campaign))


@tool(
    risk=Risk.MEDIUM, title="Update campaign {campaign_id}",
    examples=("change the newsletter subject to 'Your June digest'", "send the promo to the "
              "Decision makers segment instead"),
)
async def update_campaign(ctx: ToolContext, args: UpdateCampaignArgs) -> CampaignResult:
    """Change a draft or paused campaign's name, subject, content, segment, channel or budget;
    fields left out stay as they are. Scheduled or running campaigns must be paused first."""
    repo = CampaignRepository(ctx.session, ctx.scope)
    campaign = await repo.get(args.campaign_id)
    await ctx.session.refresh(campaign, with_for_update=True)
    if campaign.status not in EDITABLE:
        raise ToolFailed(f"campaign {campaign.name!r} is {campaign.status}; pause it first")
    values = await _content_values(ctx, args, dict(campaign.content))
    if args.name is not None:
        values["name"] = args.name
    if not values:
        raise RetryableToolError("nothing to change: give at least one field to update")
    before = snapshot(campaign, CAMPAIGN_FIELDS)
    campaign = await repo.update(campaign.id, **values)
    await record_change(ctx, "update", "campaign", campaign.id, before=before,
                        after=snapshot(campaign, CAMPAIGN_FIELDS))
    return CampaignResult(campaign=CampaignOut.of(campaign))


@tool(risk=Risk.LOW, examples=("which campaigns are scheduled?", "list our campaigns"))
async def list_campaigns(ctx: ToolContext, args: ListCampaignsArgs) -> CampaignList:
    """List campaigns, newest first, optionally only one status (draft, scheduled, active,
    paused, completed)."""
    repo = CampaignRepository(ctx.session, ctx.scope)
    page = await repo.search(status=args.status, limit=args.limit)
    total = await repo.count(**({"status": args.status} if args.status else {}))
    return CampaignList(campaigns=[CampaignOut.of(c) for c in page.items], total=total,
                        has_more=page.next_cursor is not None)


@tool(
    risk=Risk.HIGH, title="Schedule campaign {campaign_id} for {send_at}",
    examples=("schedule the spring newsletter for Tuesday 9am", "send the Q3 teaser next "
              "Monday at 10:00 New York time", "resume the paused SMS nudge tomorrow at noon"),
)
async def schedule_campaign(ctx: ToolContext, args: ScheduleCampaignArgs) -> ScheduleResult:
    """Schedule a draft or paused campaign to go out at send_at (a future time with its UTC
    offset). This sets the schedule only: the campaign worker sends it to the segment's members
    at that time. The campaign needs a segment, and an email campaign a subject."""
    repo = CampaignRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "schedule", "campaign")
    if earlier is None:
        if args.send_at <= datetime.now(UTC):
            raise RetryableToolError(f"send_at {args.send_at.isoformat()} is not in the future")
        before = snapshot(await repo.get(args.campaign_id), CAMPAIGN_FIELDS)
        campaign = await repo.schedule(args.campaign_id, args.send_at)
        await record_change(ctx, "schedule", "campaign", campaign.id, before=before,
                            after=snapshot(campaign, CAMPAIGN_FIELDS))
    else:
        campaign = await repo.get(earlier)
    segment_id = campaign.segment_id
    assert segment_id is not None  # schedule() refuses a campaign without one
    segment = await SegmentRepository(ctx.session, ctx.scope).get(segment_id)
    return ScheduleResult(campaign=CampaignOut.of(campaign),
                          audience=await matching_contacts(ctx, segment.rules))


@tool(risk=Risk.MEDIUM, title="Pause campaign {campaign_id}",
      examples=("pause the SMS nudge", "hold the newsletter, don't send it yet"))
async def pause_campaign(ctx: ToolContext, args: CampaignRef) -> CampaignResult:
    """Pause a scheduled or running campaign so nothing more goes out. Resume it later with
    schedule_campaign."""
    earlier = await replayed(ctx, "pause", "campaign")
    if earlier is not None:
        return await _campaign(ctx, earlier)
    repo = CampaignRepository(ctx.session, ctx.scope)
    campaign = await repo.get(args.campaign_id)
    await ctx.session.refresh(campaign, with_for_update=True)
    if campaign.status not in PAUSABLE:
        raise ToolFailed(f"campaign {campaign.name!r} is {campaign.status}; only scheduled or "
                         "active campaigns can be paused")
    before = snapshot(campaign, CAMPAIGN_FIELDS)
    campaign = await repo.update(campaign.id, status=CampaignStatus.PAUSED)
    await record_change(ctx, "pause", "campaign", campaign.id, before=before,
                        after=snapshot(campaign, CAMPAIGN_FIELDS))
    return CampaignResult(campaign=CampaignOut.of(campaign))


@tool(risk=Risk.LOW, examples=("how did the webinar follow-up perform?", "open rate of the "
                               "spring product update"))
async def get_campaign_metrics(ctx: ToolContext, args: CampaignRef) -> CampaignMetricsResult:
    """Report a campaign's funnel from its recipients: sent, delivered, opened, clicked,
    converted, bounced, unsubscribed, and rates as fractions (0.25 = 25%; open and click
    rates are of delivered), plus budget and spend."""
    repo = CampaignRepository(ctx.session, ctx.scope)
    report = await repo.campaign_metrics(args.campaign_id)
    return CampaignMetricsResult.of(await repo.get(args.campaign_id), report)


# -- segments --------------------------------------------------------------------------------


@tool(
    risk=Risk.MEDIUM, title="Create segment {name}",
    examples=("make a segment of leads scoring over 50", "segment: contacts tagged webinar or "
              "on a trial", "create a segment of CEOs and CTOs we talked to this month"),
)
async def create_segment(ctx: ToolContext, args: CreateSegmentArgs) -> SegmentResult:
    """Create a contact segment from rules (all/any of field-operator-value conditions) and
    count its members now. Membership is evaluated live whenever the segment is used. Try rules
    first with preview_segment when unsure."""
    earlier = await replayed(ctx, "create", "segment")
    repo = SegmentRepository(ctx.session, ctx.scope)
    if earlier is not None:
        return SegmentResult(segment=SegmentOut.of(await repo.get(earlier)))
    segment = await repo.create(name=args.name, description=args.description,
                                rules=args.rules.stored())
    segment = await repo.recalculate(segment.id)
    await record_change(ctx, "create", "segment", segment.id,
                        after=snapshot(segment, SEGMENT_FIELDS))
    return SegmentResult(segment=SegmentOut.of(segment))


@tool(risk=Risk.LOW, examples=("what segments do we have?", "list the audience segments"))
async def list_segments(ctx: ToolContext, args: ListSegmentsArgs) -> SegmentList:
    """List contact segments by name with their rules and last member count."""
    repo = SegmentRepository(ctx.session, ctx.scope)
    filters: dict[str, Any] = {} if args.include_inactive else {"is_active": True}
    page = await repo.list(limit=args.limit, sort="name", descending=False, **filters)
    return SegmentList(segments=[SegmentOut.of(s) for s in page.items],
                       total=await repo.count(**filters), has_more=page.next_cursor is not None)


@tool(risk=Risk.LOW, examples=("how many contacts are in the hot leads segment?", "who would "
                               "a segment of referral leads include?"))
async def preview_segment(ctx: ToolContext, args: PreviewSegmentArgs) -> SegmentPreviewResult:
    """Count the contacts an existing segment, or a set of rules, matches right now, with a
    sample of the highest-scoring ones. Changes nothing."""
    repo = SegmentRepository(ctx.session, ctx.scope)
    if args.segment_id is not None:
        rules: dict[str, Any] = (await repo.get(args.segment_id)).rules
    else:
        assert args.rules is not None  # the argument model requires one of the two
        rules = args.rules.stored()
    preview = await repo.preview(rules, sample_size=args.sample_size)
    return SegmentPreviewResult(count=preview.count,
                                sample=[ContactBrief.of(c) for c in preview.sample])


# -- automation ------------------------------------------------------------------------------


@tool(
    risk=Risk.MEDIUM, title="Create automation {name}",
    examples=("when a new lead comes in, send the welcome email", "tag contacts who click an "
              "email as engaged", "create a task 'Prepare contract' when a deal hits negotiation"),
)
async def create_automation_rule(ctx: ToolContext, args: CreateAutomationArgs) -> AutomationResult:
    """Create a when-this-then-that automation: a trigger event (with optional trigger_config
    narrowing it) and one action with its action_config. It is active at once unless
    activate=false; the automation engine runs it on each matching event."""
    earlier = await replayed(ctx, "create", "automation_rule")
    repo = AutomationRuleRepository(ctx.session, ctx.scope)
    if earlier is not None:
        return AutomationResult(rule=AutomationOut.of(await repo.get(earlier)))
    await check_action_config(ctx, args.action, args.action_config)
    rule = await repo.create(
        name=args.name, description=args.description, trigger_type=args.trigger,
        trigger_config=dict(args.trigger_config), action_type=args.action,
        action_config=dict(args.action_config), created_by=ctx.caller.user_id,
        status=AutomationStatus.ACTIVE if args.activate else AutomationStatus.DRAFT,
    )
    await record_change(ctx, "create", "automation_rule", rule.id,
                        after=snapshot(rule, AUTOMATION_FIELDS))
    return AutomationResult(rule=AutomationOut.of(rule))


@tool(risk=Risk.LOW, examples=("what automations are running?", "list automations that fire "
                               "when a deal is won"))
async def list_automation_rules(ctx: ToolContext, args: ListAutomationsArgs) -> AutomationList:
    """List automation rules, newest first, with how often each has run; filter by status or
    trigger."""
    filters: dict[str, Any] = {
        k: v for k, v in (("status", args.status), ("trigger_type", args.trigger))
        if v is not None
    }
    repo = AutomationRuleRepository(ctx.session, ctx.scope)
    page = await repo.list(limit=args.limit, **filters)
    return AutomationList(rules=[AutomationOut.of(r) for r in page.items],
                          total=await repo.count(**filters), has_more=page.next_cursor is not None)


@tool(risk=Risk.MEDIUM, title="Set automation {rule_id} to {status}",
      examples=("turn off the welcome email automation", "switch the overdue reminder on"))
async def set_automation_rule_status(
    ctx: ToolContext, args: SetAutomationStatusArgs
) -> AutomationResult:
    """Turn an automation rule on (active), off (paused), back to draft, or archive it."""
    repo = AutomationRuleRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "set_status", "automation_rule")
    if earlier is not None:
        return AutomationResult(rule=AutomationOut.of(await repo.get(earlier)))
    rule = await repo.get(args.rule_id)
    if rule.status == args.status:
        raise ToolFailed(f"automation {rule.name!r} is already {rule.status}")
    before = snapshot(rule, AUTOMATION_FIELDS)
    rule = await repo.update(rule.id, status=args.status)
    await record_change(ctx, "set_status", "automation_rule", rule.id, before=before,
                        after=snapshot(rule, AUTOMATION_FIELDS))
    return AutomationResult(rule=AutomationOut.of(rule))


# -- lead scoring ----------------------------------------------------------------------------


@tool(
    risk=Risk.MEDIUM, title="Create lead scoring rule {name} ({points} points)",
    examples=("give executives 25 points", "add 10 points for webinar attendees",
              "take 30 points off churned contacts"),
)
async def create_lead_scoring_rule(
    ctx: ToolContext, args: CreateScoringRuleArgs
) -> ScoringRuleResult:
    """Add a lead scoring rule: when the condition holds for a contact, points (-100 to 100)
    count towards its lead score (scores never go below 0). Scores change only when
    recompute_lead_scores runs; the result says how many contacts match now."""
    earlier = await replayed(ctx, "create", "lead_scoring_rule")
    repo = LeadScoringRuleRepository(ctx.session, ctx.scope)
    if earlier is not None:
        rule = await repo.get(earlier)
    else:
        rule = await repo.create(
            name=args.name, field=args.field, operator=args.operator, value=args.value,
            points=args.points, type=args.type, priority=args.priority, is_active=args.activate,
        )
        await record_change(ctx, "create", "lead_scoring_rule", rule.id,
                            after=snapshot(rule, SCORING_FIELDS))
    matching = await matching_contacts(ctx, {"conditions": [rule.condition().model_dump()]})
    return ScoringRuleResult(rule=ScoringRuleOut.of(rule), matching_contacts=matching)


@tool(risk=Risk.LOW, examples=("how do we score leads?", "list the lead scoring rules"))
async def list_lead_scoring_rules(ctx: ToolContext, args: ListRulesArgs) -> ScoringRuleList:
    """List lead scoring rules, highest priority first, with their conditions and points."""
    repo = LeadScoringRuleRepository(ctx.session, ctx.scope)
    filters: dict[str, Any] = {} if args.include_inactive else {"is_active": True}
    page = await repo.list(limit=args.limit, sort="priority", **filters)
    return ScoringRuleList(rules=[ScoringRuleOut.of(r) for r in page.items],
                           total=await repo.count(**filters),
                           has_more=page.next_cursor is not None)


async def _score_changes(
    ctx: ToolContext, repo: LeadScoringRuleRepository, rules: list[LeadScoringRule]
) -> list[ScoreChange]:
    """What recomputing would change, read before the update so the audit can show it."""
    score = repo.score_expression(rules)
    stmt = (
        ContactRepository(ctx.session, ctx.scope).select()
        .with_only_columns(Contact, score)
        .where(Contact.lead_score.is_distinct_from(score))
    )
    rows = (await ctx.session.execute(stmt)).all()
    return [ScoreChange(contact_id=c.id, name=c.full_name, before=c.lead_score, after=int(new))
            for c, new in rows]


@tool(risk=Risk.MEDIUM, title="Recompute all lead scores",
      examples=("recalculate lead scores", "apply the new scoring rules to everyone"))
async def recompute_lead_scores(ctx: ToolContext, args: RecomputeScoresArgs) -> RecomputeResult:
    """Recompute every contact's lead score from the active scoring rules (the sum of the points
    of the rules that hold, at least 0) and store it. Returns how many scores changed and the
    biggest changes. Running it again changes nothing unless contacts or rules changed."""
    repo = LeadScoringRuleRepository(ctx.session, ctx.scope)
    rules = await repo.active()
    changes = await _score_changes(ctx, repo, rules)
    changed = await repo.recompute_lead_scores()
    if changed:
        await record_change(
            ctx, "recompute_lead_scores", "contact", None,
            before={str(c.contact_id): c.before for c in changes},
            after={str(c.contact_id): c.after for c in changes},
        )
    biggest = sorted(changes, key=lambda c: (-abs(c.after - c.before), str(c.contact_id)))
    return RecomputeResult(active_rules=len(rules), contacts_changed=changed,
                           biggest_changes=biggest[:10])


# -- lead routing ----------------------------------------------------------------------------


@tool(
    risk=Risk.MEDIUM, title="Create lead routing rule {name}",
    examples=("send enterprise leads to Dana", "round-robin hot inbound leads between Sam and "
              "Alex", "route all leads from referrals to me"),
)
async def create_lead_routing_rule(
    ctx: ToolContext, args: CreateRoutingRuleArgs
) -> RoutingRuleResult:
    """Add a lead routing rule: contacts matching the conditions are assigned to one team
    member (assign_to) or in turn to several (round_robin_members). Rules are tried by
    descending priority and the first match wins. Member ids come from list_team_members."""
    earlier = await replayed(ctx, "create", "lead_routing_rule")
    repo = LeadRoutingRuleRepository(ctx.session, ctx.scope)
    if earlier is not None:
        rule = await repo.get(earlier)
    else:
        owners = [args.assign_to] if args.assign_to else args.round_robin_members
        for owner in owners:
            await require_active_member(ctx, owner)
        rule = await repo.create(
            name=args.name, conditions=args.conditions.stored(), assign_to=args.assign_to,
            round_robin=bool(args.round_robin_members),
            round_robin_users=[str(u) for u in args.round_robin_members],
            priority=args.priority, is_active=args.activate,
        )
        await record_change(ctx, "create", "lead_routing_rule", rule.id,
                            after=snapshot(rule, ROUTING_FIELDS))
    matching = await matching_contacts(ctx, rule.conditions)
    return RoutingRuleResult(rule=RoutingRuleOut.of(rule), matching_contacts=matching)


@tool(risk=Risk.LOW, examples=("who gets new leads?", "list the lead routing rules"))
async def list_lead_routing_rules(ctx: ToolContext, args: ListRulesArgs) -> RoutingRuleList:
    """List lead routing rules in the order they are tried (highest priority first)."""
    repo = LeadRoutingRuleRepository(ctx.session, ctx.scope)
    filters: dict[str, Any] = {} if args.include_inactive else {"is_active": True}
    page = await repo.list(limit=args.limit, sort="priority", **filters)
    return RoutingRuleList(rules=[RoutingRuleOut.of(r) for r in page.items],
                           total=await repo.count(**filters),
                           has_more=page.next_cursor is not None)

