"""Marketing tools against the real database: every tool's effect (rows and audit), invalid
arguments, roles, ids from another workspace, and replayed calls."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

import tools.marketing  # registers the marketing tools
from store.models.core import MemberRole, User, WorkspaceMember
from store.models.crm import ContactStatus
from store.models.marketing import (
    ActionType,
    AutomationStatus,
    CampaignStatus,
    ChannelType,
    RecipientStatus,
    TriggerType,
)
from store.repositories.admin import AuditLogRepository
from store.repositories.crm import ContactRepository
from store.repositories.marketing import (
    AutomationRuleRepository,
    CampaignRecipientRepository,
    CampaignRepository,
    ChannelRepository,
    LeadRoutingRuleRepository,
    LeadScoringRuleRepository,
    SegmentRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit_trail, unchanged
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import ToolRegistry

NOW = datetime.now(UTC)
LATER = (NOW + timedelta(days=3)).isoformat()
EXECS = {"match": "all", "conditions": [{"field": "job_title", "operator": "in",
                                         "value": ["CEO", "CTO"]}]}


@dataclasses.dataclass(frozen=True)
class Seed:
    ada: uuid.UUID
    bob: uuid.UUID
    cy: uuid.UUID
    colleague: uuid.UUID
    channel: uuid.UUID
    execs: uuid.UUID
    draft: uuid.UUID
    bare: uuid.UUID
    scheduled: uuid.UUID
    sent: uuid.UUID
    automation: uuid.UUID


async def seed(sessions: Sessions, ws: WorkspaceFixture) -> Seed:
    """Three contacts, a second team member, a channel, a segment, campaigns in four states
    (the completed one with recipients), an automation and two scoring rules."""
    async with scoped_session(sessions, ws.scope) as s:
        colleague = User(email=f"sam-{uuid.uuid4().hex[:8]}@example.com", first_name="Sam")
        s.add(colleague)
        await s.flush()
        s.add(WorkspaceMember(workspace_id=ws.workspace_id, user_id=colleague.id,
                              role=MemberRole.MEMBER))
        contacts = ContactRepository(s, ws.scope)
        ada = await contacts.create(first_name="Ada", email="ada@a.test", job_title="CEO",
                                    lead_score=80, tags=["vip"])
        bob = await contacts.create(first_name="Bob", email="bob@b.test", job_title="Engineer",
                                    lead_score=40, tags=["webinar"], status=ContactStatus.ACTIVE)
        cy = await contacts.create(first_name="Cy", job_title="CTO", lead_score=10,
                                   status=ContactStatus.CHURNED)
        channel = await ChannelRepository(s, ws.scope).create(name="News", type=ChannelType.EMAIL)
        execs = await SegmentRepository(s, ws.scope).create(name="Execs", rules=EXECS)
        campaigns = CampaignRepository(s, ws.scope)

        async def campaign(name: str, **values: Any) -> uuid.UUID:
            return (await campaigns.create(name=name, **values)).id

        draft = await campaign("Spring", subject="Hello spring", segment_id=execs.id,
                               content={"body": "Hi"})
        bare = await campaign("Bare")
        scheduled = await campaign("Digest", subject="Digest", segment_id=execs.id,
                                   status=CampaignStatus.SCHEDULED, scheduled_at=NOW)
        sent = await campaign("Webinar", subject="Slides", segment_id=execs.id,
                              status=CampaignStatus.COMPLETED, budget_cents=50000,
                              spent_cents=42000)
        await CampaignRecipientRepository(s, ws.scope).create_many([
            {"campaign_id": sent, "contact_id": c, "status": status} for c, status in (
                (ada.id, RecipientStatus.OPENED), (bob.id, RecipientStatus.CLICKED),
                (cy.id, RecipientStatus.BOUNCED))
        ])
        automation = await AutomationRuleRepository(s, ws.scope).create(
            name="Welcome", trigger_type=TriggerType.LEAD_CREATED,
            action_type=ActionType.SEND_EMAIL, action_config={"template": "welcome"},
            status=AutomationStatus.ACTIVE)
        scoring = LeadScoringRuleRepository(s, ws.scope)
        await scoring.create(name="Exec", field="job_title", operator="in",
                             value=["CEO", "CTO"], points=25, priority=2)
        await scoring.create(name="Churned", field="status", operator="eq", value="churned",
                             points=-30, priority=1)
        return Seed(ada.id, bob.id, cy.id, colleague.id, channel.id, execs.id, draft, bare,
                    scheduled, sent, automation.id)


async def state(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, Any]:
    """Everything a marketing tool could change, to prove a refusal changed nothing."""
    async with scoped_session(sessions, ws.scope) as s:
        def rows(page: Any, *fields: str) -> list[tuple[Any, ...]]:
            return sorted(tuple(str(getattr(r, f)) for f in ("id", *fields)) for r in page.items)

        return {
            "campaigns": rows(await CampaignRepository(s, ws.scope).list(limit=200),
                              "status", "name", "subject", "segment_id", "scheduled_at"),
            "segments": rows(await SegmentRepository(s, ws.scope).list(limit=200),
                             "name", "contact_count"),
            "automations": rows(await AutomationRuleRepository(s, ws.scope).list(limit=200),
                                "status"),
            "scoring": await LeadScoringRuleRepository(s, ws.scope).count(),
            "routing": await LeadRoutingRuleRepository(s, ws.scope).count(),
            "scores": rows(await ContactRepository(s, ws.scope).list(limit=200), "lead_score"),
            "audit": await AuditLogRepository(s, ws.scope).count(),
        }


# -- campaigns -------------------------------------------------------------------------------


async def test_create_campaign(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "create_campaign", {
        "name": "Summer promo", "subject": "Sun's out", "body": "20% off", "budget": "250.50",
        "cta_url": "https://shop.test/summer", "segment_id": str(s.execs),
        "channel_id": str(s.channel)}, role=MemberRole.MEMBER)
    out = result.campaign
    assert (out.status, out.type, out.budget, out.segment_id) == (
        CampaignStatus.DRAFT, "email", Decimal("250.50"), s.execs)
    async with scoped_session(sessions, ws.scope) as session:
        row = await CampaignRepository(session, ws.scope).get(out.id)
        assert row.budget_cents == 25050 and row.created_by == ws.user_id
        assert row.content == {"body": "20% off", "cta_url": "https://shop.test/summer"}
    [(action, changes)] = await audit_trail(sessions, ws, "campaign", out.id)
    assert action == "create" and changes["subject"] == {"before": None, "after": "Sun's out"}


async def test_update_campaign_merges_content_and_refuses_scheduled(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "update_campaign", {
        "campaign_id": str(s.bare), "subject": "New subject", "headline": "Big news",
        "segment_id": str(s.execs)})
    assert (result.campaign.subject, result.campaign.segment_id) == ("New subject", s.execs)
    async with scoped_session(sessions, ws.scope) as session:
        assert (await CampaignRepository(session, ws.scope).get(s.draft)).content == {"body": "Hi"}
    await call_tool(ws, "update_campaign", {"campaign_id": str(s.draft), "headline": "Hey"})
    async with scoped_session(sessions, ws.scope) as session:
        draft = await CampaignRepository(session, ws.scope).get(s.draft)
        assert draft.content == {"body": "Hi", "headline": "Hey"}
    [(action, changes)] = await audit_trail(sessions, ws, "campaign", s.bare)
    assert action == "update" and changes["subject"] == {"before": None, "after": "New subject"}
    async with unchanged(state, sessions, ws):
        with pytest.raises(ToolFailed, match="pause it first"):
            await call_tool(ws, "update_campaign", {"campaign_id": str(s.scheduled), "name": "X"})


async def test_list_campaigns(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    drafts = await call_tool(ws, "list_campaigns", {"status": "draft"}, role=MemberRole.VIEWER)
    assert {c.id for c in drafts.campaigns} == {s.draft, s.bare} and drafts.total == 2
    page = await call_tool(ws, "list_campaigns", {"limit": 3})
    assert (len(page.campaigns), page.total, page.has_more) == (3, 4, True)


async def test_schedule_campaign_sets_the_schedule_only(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "schedule_campaign",
                             {"campaign_id": str(s.draft), "send_at": LATER})
    assert result.campaign.status == CampaignStatus.SCHEDULED and result.audience == 2
    assert result.campaign.scheduled_at == datetime.fromisoformat(LATER)
    async with scoped_session(sessions, ws.scope) as session:
        recipients = await CampaignRecipientRepository(session, ws.scope).for_campaign(s.draft)
        assert recipients.items == []  # the worker materialises and sends at send_at
    [(action, changes)] = await audit_trail(sessions, ws, "campaign", s.draft)
    assert action == "schedule" and changes["status"] == {"before": "draft",
                                                          "after": "scheduled"}


async def test_schedule_campaign_refusals_change_nothing(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    async with unchanged(state, sessions, ws):
        with pytest.raises(RetryableToolError, match="no segment"):
            await call_tool(ws, "schedule_campaign", {"campaign_id": str(s.bare), "send_at": LATER})
        with pytest.raises(ToolFailed, match="cannot schedule"):
            await call_tool(ws, "schedule_campaign", {"campaign_id": str(s.sent), "send_at": LATER})


async def test_schedule_campaign_replayed_schedules_once(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    args = {"campaign_id": str(s.draft), "send_at": LATER}
    results = [await call_tool(ws, "schedule_campaign", args, key="turn-7:call-1")
               for _ in range(2)]
    assert results[0] == results[1]
    assert len(await audit_trail(sessions, ws, "campaign", s.draft)) == 1


async def test_pause_campaign(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "pause_campaign", {"campaign_id": str(s.scheduled)})
    assert result.campaign.status == CampaignStatus.PAUSED
    [(action, changes)] = await audit_trail(sessions, ws, "campaign", s.scheduled)
    assert action == "pause" and changes["status"]["after"] == "paused"
    async with unchanged(state, sessions, ws):
        with pytest.raises(ToolFailed, match="only scheduled or active"):
            await call_tool(ws, "pause_campaign", {"campaign_id": str(s.draft)})


async def test_get_campaign_metrics(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "get_campaign_metrics", {"campaign_id": str(s.sent)},
                             role=MemberRole.VIEWER)
    f = result.funnel
    assert (result.recipients, f.sent, f.delivered, f.opened, f.clicked, f.bounced) == (
        3, 3, 2, 2, 1, 1)
    assert (result.rates.open, result.rates.click, result.rates.bounce) == (1.0, 0.5, 0.3333)
    assert (result.campaign.budget, result.campaign.spent) == (Decimal("500.00"),
                                                               Decimal("420.00"))


# -- segments --------------------------------------------------------------------------------


async def test_create_segment_counts_members(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    await seed(sessions, ws)
    result = await call_tool(ws, "create_segment", {
        "name": "Engaged", "rules": {"match": "any", "conditions": [
            {"field": "tags", "operator": "has_tag", "value": "webinar"},
            {"field": "lead_score", "operator": "gte", "value": 70}]}})
    assert result.segment.contact_count == 2 and result.segment.rules["match"] == "any"
    async with scoped_session(sessions, ws.scope) as session:
        row = await SegmentRepository(session, ws.scope).get(result.segment.id)
        assert row.contact_count == 2 and row.last_calculated_at is not None
    [(action, changes)] = await audit_trail(sessions, ws, "segment", result.segment.id)
    assert action == "create" and changes["contact_count"]["after"] == 2


async def test_list_and_preview_segments(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    listed = await call_tool(ws, "list_segments", {}, role=MemberRole.VIEWER)
    assert [(x.id, x.name) for x in listed.segments] == [(s.execs, "Execs")]
    by_id = await call_tool(ws, "preview_segment", {"segment_id": str(s.execs)})
    assert by_id.count == 2 and [c.id for c in by_id.sample] == [s.ada, s.cy]
    by_rules = await call_tool(ws, "preview_segment", {"sample_size": 1, "rules": {
        "conditions": [{"field": "status", "operator": "neq", "value": "churned"}]}})
    assert by_rules.count == 2 and [c.name for c in by_rules.sample] == ["Ada"]


# -- automation ------------------------------------------------------------------------------


async def test_create_automation_rule(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "create_automation_rule", {
        "name": "Follow up", "trigger": "email_clicked", "action": "add_to_campaign",
        "action_config": {"campaign_id": str(s.draft)}})
    assert (result.rule.status, result.rule.action) == ("active", "add_to_campaign")
    draft = await call_tool(ws, "create_automation_rule", {
        "name": "Task", "trigger": "deal_stage_changed", "trigger_config": {"stage": "won"},
        "action": "create_task", "action_config": {"title": "Kickoff", "due_in_days": 2},
        "activate": False})
    assert draft.rule.status == "draft" and draft.rule.trigger_config == {"stage": "won"}
    [(action, changes)] = await audit_trail(sessions, ws, "automation_rule", draft.rule.id)
    assert action == "create" and changes["action_config"]["after"]["title"] == "Kickoff"


async def test_list_and_switch_automation_rules(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    listed = await call_tool(ws, "list_automation_rules", {"trigger": "lead_created"},
                             role=MemberRole.VIEWER)
    assert [r.id for r in listed.rules] == [s.automation] and listed.total == 1
    paused = await call_tool(ws, "set_automation_rule_status",
                             {"rule_id": str(s.automation), "status": "paused"})
    assert paused.rule.status == "paused"
    [(action, changes)] = await audit_trail(sessions, ws, "automation_rule", s.automation)
    assert action == "set_status"
    assert changes["status"] == {"before": "active", "after": "paused"}
    assert (await call_tool(ws, "list_automation_rules", {"status": "active"})).total == 0
    with pytest.raises(ToolFailed, match="already paused"):
        await call_tool(ws, "set_automation_rule_status",
                        {"rule_id": str(s.automation), "status": "paused"})


# -- lead scoring and routing ----------------------------------------------------------------


async def test_create_and_list_lead_scoring_rules(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    await seed(sessions, ws)
    result = await call_tool(ws, "create_lead_scoring_rule", {
        "name": "Webinar", "field": "tags", "operator": "has_tag", "value": "webinar",
        "points": 10, "type": "engagement", "priority": 5})
    assert result.matching_contacts == 1 and result.rule.points == 10
    [(action, changes)] = await audit_trail(sessions, ws, "lead_scoring_rule", result.rule.id)
    assert action == "create" and changes["operator"]["after"] == "has_tag"
    listed = await call_tool(ws, "list_lead_scoring_rules", {}, role=MemberRole.VIEWER)
    assert [r.name for r in listed.rules] == ["Webinar", "Exec", "Churned"]


async def test_recompute_lead_scores_audits_each_change(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    result = await call_tool(ws, "recompute_lead_scores", {})
    # Ada: exec 25. Bob: nothing, 0. Cy: exec 25 - churned 30, floored at 0.
    assert (result.active_rules, result.contacts_changed) == (2, 3)
    assert [(c.name, c.before, c.after) for c in result.biggest_changes] == [
        ("Ada", 80, 25), ("Bob", 40, 0), ("Cy", 10, 0)]
    [(action, changes)] = await audit_trail(sessions, ws, "contact")
    assert action == "recompute_lead_scores"
    assert changes[str(s.ada)] == {"before": 80, "after": 25}
    again = await call_tool(ws, "recompute_lead_scores", {})
    assert again.contacts_changed == 0 and len(await audit_trail(sessions, ws, "contact")) == 1


async def test_create_and_list_lead_routing_rules(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    single = await call_tool(ws, "create_lead_routing_rule", {
        "name": "Execs to me", "conditions": EXECS, "assign_to": str(ws.user_id),
        "priority": 10})
    assert single.matching_contacts == 2 and single.rule.assign_to == ws.user_id
    shared = await call_tool(ws, "create_lead_routing_rule", {
        "name": "Everyone else", "round_robin_members": [str(ws.user_id), str(s.colleague)]})
    assert shared.matching_contacts == 3
    assert shared.rule.round_robin_members == [ws.user_id, s.colleague]
    async with scoped_session(sessions, ws.scope) as session:
        row = await LeadRoutingRuleRepository(session, ws.scope).get(shared.rule.id)
        assert row.round_robin and row.round_robin_users == [str(ws.user_id), str(s.colleague)]
    [(action, _)] = await audit_trail(sessions, ws, "lead_routing_rule", shared.rule.id)
    assert action == "create"
    listed = await call_tool(ws, "list_lead_routing_rules", {}, role=MemberRole.VIEWER)
    assert [r.name for r in listed.rules] == ["Execs to me", "Everyone else"]


# -- refusals --------------------------------------------------------------------------------

BAD_FIELD = {"conditions": [{"field": "shoe_size", "operator": "eq", "value": 9}]}

#: (tool, arguments) that must be refused as a retryable error and change nothing.
INVALID: list[tuple[str, Callable[[Seed], dict[str, Any]]]] = [
    ("create_campaign", lambda s: {"name": ""}),
    ("create_campaign", lambda s: {"name": "X", "type": "fax"}),
    ("create_campaign", lambda s: {"name": "X", "budget": -1}),
    ("create_campaign", lambda s: {"name": "X", "cta_url": "javascript:alert(1)"}),
    ("update_campaign", lambda s: {"campaign_id": str(s.draft)}),
    ("update_campaign", lambda s: {"campaign_id": str(s.draft), "budget": "1.234"}),
    ("list_campaigns", lambda s: {"limit": 101}),
    ("schedule_campaign", lambda s: {"campaign_id": str(s.draft),
                                     "send_at": (NOW - timedelta(hours=1)).isoformat()}),
    ("schedule_campaign", lambda s: {"campaign_id": str(s.draft),
                                     "send_at": "2031-05-01T09:00:00"}),
    ("pause_campaign", lambda s: {"campaign_id": "spring"}),
    ("get_campaign_metrics", lambda s: {}),
    ("create_segment", lambda s: {"name": "Feet", "rules": BAD_FIELD}),
    ("create_segment", lambda s: {"name": "Bad op", "rules": {"conditions": [
        {"field": "lead_score", "operator": "contains", "value": "5"}]}}),
    ("create_segment", lambda s: {"name": "Bad match", "rules": {"match": "most"}}),
    ("list_segments", lambda s: {"limit": 0}),
    ("preview_segment", lambda s: {}),
    ("preview_segment", lambda s: {"rules": BAD_FIELD}),
    ("create_automation_rule", lambda s: {"name": "Tag", "trigger": "lead_created",
                                          "action": "add_tag"}),
    ("create_automation_rule", lambda s: {"name": "Hook", "trigger": "deal_won",
                                          "action": "call_webhook",
                                          "action_config": {"url": "http://x.test"}}),
    ("create_automation_rule", lambda s: {"name": "X", "trigger": "full_moon",
                                          "action": "send_email"}),
    ("list_automation_rules", lambda s: {"status": "sleeping"}),
    ("set_automation_rule_status", lambda s: {"rule_id": str(s.automation), "status": "on"}),
    ("create_lead_scoring_rule", lambda s: {"name": "Feet", "field": "shoe_size",
                                            "operator": "gt", "value": 9, "points": 5}),
    ("create_lead_scoring_rule", lambda s: {"name": "Zero", "field": "lead_score",
                                            "operator": "gt", "value": 9, "points": 0}),
    ("create_lead_scoring_rule", lambda s: {"name": "Days", "field": "created_at",
                                            "operator": "within_last_days", "value": -3,
                                            "points": 5}),
    ("list_lead_scoring_rules", lambda s: {"limit": 500}),
    ("recompute_lead_scores", lambda s: {"everyone": True}),
    ("create_lead_routing_rule", lambda s: {"name": "Nobody"}),
    ("create_lead_routing_rule", lambda s: {"name": "Both", "assign_to": str(s.colleague),
                                            "round_robin_members": [str(s.colleague),
                                                                    str(uuid.uuid4())]}),
    ("create_lead_routing_rule", lambda s: {"name": "Ghost", "assign_to": str(uuid.uuid4())}),
    ("list_lead_routing_rules", lambda s: {"include_inactive": "sometimes"}),
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


#: One valid call of every tool that takes an id, built from a seed.
BY_ID: dict[str, Callable[[Seed], dict[str, Any]]] = {
    "create_campaign": lambda s: {"name": "X", "segment_id": str(s.execs)},
    "update_campaign": lambda s: {"campaign_id": str(s.draft), "name": "Y"},
    "schedule_campaign": lambda s: {"campaign_id": str(s.draft), "send_at": LATER},
    "pause_campaign": lambda s: {"campaign_id": str(s.scheduled)},
    "get_campaign_metrics": lambda s: {"campaign_id": str(s.sent)},
    "preview_segment": lambda s: {"segment_id": str(s.execs)},
    "create_automation_rule": lambda s: {"name": "X", "trigger": "lead_created",
                                         "action": "add_to_campaign",
                                         "action_config": {"campaign_id": str(s.draft)}},
    "set_automation_rule_status": lambda s: {"rule_id": str(s.automation), "status": "paused"},
    "create_lead_routing_rule": lambda s: {"name": "X", "assign_to": str(s.colleague)},
}
#: Calls whose id points into the caller's own workspace but a field names another's.
MIXED: dict[str, Callable[[Seed, Seed], dict[str, Any]]] = {
    "update_campaign": lambda mine, other: {"campaign_id": str(mine.draft),
                                            "segment_id": str(other.execs)},
    "create_campaign": lambda mine, other: {"name": "X", "channel_id": str(other.channel)},
}


@pytest.mark.parametrize("name", sorted(BY_ID))
async def test_ids_of_another_workspace_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool, name: str
) -> None:
    mine, theirs = await make_workspace(), await make_workspace()
    own = await seed(sessions, mine)
    other = await seed(sessions, theirs)
    async with unchanged(state, sessions, mine, theirs):
        with pytest.raises(RetryableToolError, match="this workspace"):
            await call_tool(mine, name, BY_ID[name](other))
        if name in MIXED:
            with pytest.raises(RetryableToolError, match="this workspace"):
                await call_tool(mine, name, MIXED[name](own, other))


def test_every_marketing_tool_is_covered(catalog: ToolRegistry) -> None:
    marketing = {t.name for t in catalog if t.domain == "marketing"}
    with_ids = {t.name for t in catalog
                if t.domain == "marketing" and "'format': 'uuid'" in str(t.parameters)}
    assert with_ids <= set(BY_ID) <= marketing
    assert {n for n, _ in INVALID} == marketing


WRITES: dict[str, Callable[[Seed], dict[str, Any]]] = {
    **BY_ID,
    "create_segment": lambda s: {"name": "All", "rules": {}},
    "create_lead_scoring_rule": lambda s: {"name": "X", "field": "email", "operator": "is_set",
                                           "points": 1},
    "recompute_lead_scores": lambda s: {},
}


@pytest.mark.parametrize("name", sorted(set(WRITES) - {"get_campaign_metrics",
                                                       "preview_segment"}))
async def test_viewers_cannot_write(
    sessions: Sessions, make_workspace: MakeWorkspace, call_tool: CallTool, name: str
) -> None:
    ws = await make_workspace()
    s = await seed(sessions, ws)
    async with unchanged(state, sessions, ws):
        with pytest.raises(ToolFailed, match="needs the member role"):
            await call_tool(ws, name, WRITES[name](s), role=MemberRole.VIEWER)


def test_marketing_catalogue_policy(catalog: ToolRegistry) -> None:
    """Risk and role of every marketing tool: what decides approvals and access."""
    policy = {t.name: (t.risk.value, t.role.value, t.permission)
              for t in catalog if t.domain == "marketing"}
    writes = {n: ("medium", "member", None) for n in (
        "create_campaign", "update_campaign", "pause_campaign", "create_segment",
        "create_automation_rule", "set_automation_rule_status", "create_lead_scoring_rule",
        "recompute_lead_scores", "create_lead_routing_rule")}
    reads = {n: ("low", "viewer", None) for n in (
        "list_campaigns", "get_campaign_metrics", "list_segments", "preview_segment",
        "list_automation_rules", "list_lead_scoring_rules", "list_lead_routing_rules")}
    assert policy == {**writes, **reads, "schedule_campaign": ("high", "member", None)}
    assert tools.marketing.schedule_campaign.__module__ == "tools.marketing"
