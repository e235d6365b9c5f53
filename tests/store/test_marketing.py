"""Marketing repositories against the real database: the condition-to-SQL compiler (every field
kind and operator), segments, campaigns and recipients, lead scoring and routing, automation,
isolation, and the demo seeder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import crm as crm_demo
from store.demo import marketing as marketing_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.core import User
from store.models.crm import ContactStatus
from store.models.marketing import (
    ActionType,
    AutomationStatus,
    CampaignStatus,
    CampaignType,
    ChannelStatus,
    ChannelType,
    Condition,
    ConditionOperator,
    RecipientStatus,
    SegmentRules,
    TriggerType,
    parse_rules,
)
from store.repositories.crm import ContactRepository
from store.repositories.marketing import (
    AutomationRuleRepository,
    CampaignRecipientRepository,
    CampaignRepository,
    ChannelRepository,
    ContactConditions,
    LeadRoutingRuleRepository,
    LeadScoringRuleRepository,
    SegmentRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC)

#: name -> contact fields; the operator table below refers to these names.
PEOPLE: dict[str, dict[str, Any]] = {
    "ada": {"email": "ada@analytical.io", "company": "Analytical Engines", "job_title": "CEO",
            "source": "referral", "status": ContactStatus.LEAD, "lead_score": 80,
            "tags": ["vip", "newsletter"], "last_contacted_at": NOW - timedelta(days=3),
            "custom_fields": {"plan": "pro", "seats": 25, "renewal": "2025-09-01"}},
    "bob": {"email": "bob@builders.com", "company": "Builders & Co", "job_title": "Engineer",
            "source": "webinar", "status": ContactStatus.ACTIVE, "lead_score": 40,
            "tags": ["webinar"], "last_contacted_at": NOW - timedelta(days=45),
            "custom_fields": {"plan": "free", "seats": "lots"}},
    "cy": {"email": "CY@Example.org", "company": None, "job_title": "CTO", "source": "",
           "status": ContactStatus.CUSTOMER, "lead_score": 10, "tags": [],
           "last_contacted_at": None, "custom_fields": {"seats": 3}},
    "di": {"email": None, "company": "100% Pure_Labs", "job_title": None, "source": "webinar",
           "status": ContactStatus.CHURNED, "lead_score": 0, "tags": ["newsletter", "trial"],
           "last_contacted_at": NOW - timedelta(days=200), "custom_fields": {}},
}

CASES: list[tuple[str, str, Any, set[str]]] = [
    ("email", "eq", "ADA@analytical.io", {"ada"}),
    ("email", "neq", "ada@analytical.io", {"bob", "cy", "di"}),
    ("company", "contains", "co", {"bob"}),
    ("company", "contains", "100%", {"di"}),
    ("company", "contains", "100_", set()),
    ("company", "contains", "%", {"di"}),
    ("company", "starts_with", "analyt", {"ada"}),
    ("job_title", "in", ["cto", "CEO"], {"ada", "cy"}),
    ("job_title", "not_in", ["CEO"], {"bob", "cy", "di"}),
    ("source", "is_set", None, {"ada", "bob", "di"}),
    ("source", "is_not_set", None, {"cy"}),
    ("company", "is_not_set", None, {"cy"}),
    ("status", "eq", "lead", {"ada"}),
    ("status", "neq", "lead", {"bob", "cy", "di"}),
    ("status", "in", ["customer", "churned"], {"cy", "di"}),
    ("status", "not_in", ["customer", "churned"], {"ada", "bob"}),
    ("lead_score", "gt", 40, {"ada"}),
    ("lead_score", "gte", 40, {"ada", "bob"}),
    ("lead_score", "lt", 10, {"di"}),
    ("lead_score", "lte", 10, {"cy", "di"}),
    ("lead_score", "eq", 10, {"cy"}),
    ("lead_score", "neq", 10, {"ada", "bob", "di"}),
    ("lead_score", "in", [0, 80], {"ada", "di"}),
    ("lead_score", "not_in", [0, 80], {"bob", "cy"}),
    ("tags", "has_tag", "newsletter", {"ada", "di"}),
    ("tags", "has_tag", ["newsletter", "trial"], {"di"}),
    ("tags", "in", ["vip", "webinar"], {"ada", "bob"}),
    ("tags", "not_in", ["newsletter"], {"bob", "cy"}),
    ("tags", "is_set", None, {"ada", "bob", "di"}),
    ("tags", "is_not_set", None, {"cy"}),
    ("last_contacted_at", "within_last_days", 30, {"ada"}),
    ("last_contacted_at", "within_last_days", 60, {"ada", "bob"}),
    ("last_contacted_at", "lt", (NOW - timedelta(days=30)).isoformat(), {"bob", "di"}),
    ("last_contacted_at", "gte", (NOW - timedelta(days=60)).date().isoformat(), {"ada", "bob"}),
    ("last_contacted_at", "is_not_set", None, {"cy"}),
    ("last_contacted_at", "is_set", None, {"ada", "bob", "di"}),
    ("created_at", "within_last_days", 1, {"ada", "bob", "cy", "di"}),
    ("created_at", "gt", (NOW + timedelta(days=1)).isoformat(), set()),
    ("custom_fields.plan", "eq", "PRO", {"ada"}),
    ("custom_fields.plan", "in", ["pro", "free"], {"ada", "bob"}),
    ("custom_fields.plan", "is_set", None, {"ada", "bob"}),
    ("custom_fields.plan", "is_not_set", None, {"cy", "di"}),
    ("custom_fields.plan", "neq", "pro", {"bob", "cy", "di"}),
    ("custom_fields.seats", "gte", 3, {"ada", "cy"}),
    ("custom_fields.seats", "lt", 10, {"cy"}),
    ("custom_fields.seats", "eq", 25, {"ada"}),
    ("custom_fields.renewal", "lt", "2025-12-31", {"ada"}),
    ("custom_fields.plan", "starts_with", "fr", {"bob"}),
]


async def _people(repo: ContactRepository) -> dict[uuid.UUID, str]:
    names = {}
    for name, fields in PEOPLE.items():
        contact = await repo.create(first_name=name.title(), **fields)
        names[contact.id] = name
    return names


async def test_every_operator_compiles_to_the_right_contacts(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws, other = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        await _people(ContactRepository(s, other.scope))  # the same people elsewhere
    async with scoped_session(sessions, ws.scope) as s:
        names = await _people(ContactRepository(s, ws.scope))
        segments = SegmentRepository(s, ws.scope)
        got, want = {}, {}
        for field, operator, value, expected in CASES:
            rules = {"conditions": [{"field": field, "operator": operator, "value": value}]}
            preview = await segments.preview(rules, sample_size=10)
            key = f"{field} {operator} {value!r}"
            got[key] = {names[c.id] for c in preview.sample}
            want[key] = expected
            assert preview.count == len(preview.sample), key
        assert got == want
        assert {op for _, op, _, _ in CASES} == {op.value for op in ConditionOperator}


async def test_match_all_any_and_sample(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        names = await _people(ContactRepository(s, ws.scope))
        segments = SegmentRepository(s, ws.scope)
        conditions = [{"field": "source", "operator": "eq", "value": "webinar"},
                      {"field": "tags", "operator": "has_tag", "value": "newsletter"}]
        every = await segments.preview({"match": "all", "conditions": conditions})
        assert {names[c.id] for c in every.sample} == {"di"}
        some = await segments.preview({"match": "any", "conditions": conditions}, sample_size=2)
        assert some.count == 3
        assert [names[c.id] for c in some.sample] == ["ada", "bob"]  # highest score first
        assert (await segments.preview({"conditions": []})).count == 4


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"field": "shoe_size", "operator": "eq", "value": 9}, "unknown contact field 'shoe_size'"),
        ({"field": "custom_fields.", "operator": "eq", "value": 9}, "unknown contact field"),
        ({"field": "email", "operator": "resembles", "value": "x"}, "operator"),
        ({"field": "company", "operator": "gt", "value": 3}, "does not apply to 'company'"),
        ({"field": "tags", "operator": "eq", "value": "vip"}, "does not apply to 'tags'"),
        ({"field": "lead_score", "operator": "gt", "value": "high"}, "must be a number"),
        ({"field": "lead_score", "operator": "gt", "value": True}, "must be a number"),
        ({"field": "status", "operator": "eq", "value": "happy"}, "status must be one of"),
        ({"field": "status", "operator": "eq", "value": ["lead"]}, "use 'in'"),
        ({"field": "email", "operator": "in", "value": "x"}, "non-empty list"),
        ({"field": "email", "operator": "eq", "value": ""}, "non-empty string"),
        ({"field": "created_at", "operator": "within_last_days", "value": 0}, "days above zero"),
        ({"field": "created_at", "operator": "lt", "value": "yesterday"}, "ISO date"),
        ({"field": "tags", "operator": "has_tag", "value": 7}, "tag"),
        ({"field": "custom_fields.x", "operator": "within_last_days", "value": 3}, "does not"),
    ],
)
async def test_bad_conditions_are_clear_invalid_arguments(
    sessions: Sessions, make_workspace: MakeWorkspace, condition: dict[str, Any], message: str
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        segments = SegmentRepository(s, ws.scope)
        with pytest.raises(InvalidArgument, match=message):
            await segments.create(name="Bad", rules={"conditions": [condition]})
        with pytest.raises(InvalidArgument, match=message):
            await segments.preview({"conditions": [condition]})
        assert await segments.count() == 0


def test_rules_documents_are_validated() -> None:
    with pytest.raises(InvalidArgument, match="match"):
        parse_rules({"match": "most", "conditions": []})
    with pytest.raises(InvalidArgument, match=r"conditions\.0\.field"):
        parse_rules({"conditions": [{"operator": "eq"}]})
    assert parse_rules({}) == SegmentRules(match="all", conditions=[])
    condition = Condition(field="lead_score", operator=ConditionOperator.GT, value=1)
    assert "lead_score" in str(ContactConditions().condition(condition))


async def test_segment_crud_recalculate_and_members(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        names = await _people(ContactRepository(s, ws.scope))
        segments = SegmentRepository(s, ws.scope)
        news = await segments.create(name="Newsletter", rules={"conditions": [
            {"field": "tags", "operator": "has_tag", "value": "newsletter"}]})
        assert news.rules == {"match": "all", "conditions": [
            {"field": "tags", "operator": "has_tag", "value": "newsletter"}]}
        assert news.contact_count == 0 and news.last_calculated_at is None
        counted = await segments.recalculate(news.id)
        assert counted.contact_count == 2 and counted.last_calculated_at is not None
        page = await segments.members(news.id, limit=1)
        rest = await segments.members(news.id, limit=1, cursor=page.next_cursor)
        assert {names[c.id] for c in page.items + rest.items} == {"ada", "di"}
        assert rest.next_cursor is None
        assert {names[i] for i in await segments.member_ids(news.id)} == {"ada", "di"}
        await segments.update(news.id, rules={"match": "any", "conditions": [
            {"field": "lead_score", "operator": "gte", "value": 0}]})
        assert (await segments.recalculate(news.id)).contact_count == 4
        other = await segments.create(name="Empty", rules={"conditions": []})
        assert (await segments.archive(other.id)).is_active is False
        assert [x.id for x in (await segments.list(is_active=True)).items] == [news.id]
        await segments.delete(other.id)
        assert await segments.count() == 1


async def test_campaign_lifecycle_recipients_and_metrics(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contacts = ContactRepository(s, ws.scope)
        names = await _people(contacts)
        ids = {name: cid for cid, name in names.items()}
        segment = await SegmentRepository(s, ws.scope).create(name="News", rules={
            "conditions": [{"field": "tags", "operator": "has_tag", "value": "newsletter"}]})
        campaigns = CampaignRepository(s, ws.scope)
        draft = await campaigns.create(name="Spring", type=CampaignType.EMAIL)
        at = NOW - timedelta(minutes=5)
        with pytest.raises(InvalidArgument, match="no segment"):
            await campaigns.schedule(draft.id, at)
        await campaigns.update(draft.id, segment_id=segment.id)
        with pytest.raises(InvalidArgument, match="no subject"):
            await campaigns.schedule(draft.id, at)
        await campaigns.update(draft.id, subject="Hello spring")
        scheduled = await campaigns.schedule(draft.id, at)
        assert scheduled.status == CampaignStatus.SCHEDULED
        with pytest.raises(Conflict):
            await campaigns.schedule(draft.id, at)
        later = await campaigns.create(name="Later", status=CampaignStatus.SCHEDULED,
                                       scheduled_at=NOW + timedelta(days=1), subject="Soon",
                                       segment_id=segment.id)
        orphan = await campaigns.create(name="Orphan", status=CampaignStatus.SCHEDULED,
                                        scheduled_at=NOW + timedelta(days=2), subject="Hi")
        blank = await campaigns.create(name="Blank", status=CampaignStatus.SCHEDULED,
                                       scheduled_at=NOW + timedelta(days=3), subject="  ",
                                       segment_id=segment.id)
        await campaigns.create(name="Text", type=CampaignType.SMS, segment_id=segment.id,
                               status=CampaignStatus.SCHEDULED, scheduled_at=NOW)
        assert [c.name for c in await campaigns.due_to_send(NOW)] == ["Spring", "Text"]
        assert [c.id for c in await campaigns.due_to_send(NOW - timedelta(hours=1))] == []
        assert [c.id for c in await campaigns.not_ready()] == [orphan.id, blank.id]
        assert later.id not in {c.id for c in await campaigns.due_to_send(NOW)}

        assert await campaigns.materialize_recipients(draft.id) == 2
        assert await campaigns.materialize_recipients(draft.id) == 0
        await contacts.update(ids["bob"], tags=["newsletter"])
        assert await campaigns.materialize_recipients(draft.id) == 1
        with pytest.raises(InvalidArgument, match="no segment"):
            await campaigns.materialize_recipients(orphan.id)

        recipients = CampaignRecipientRepository(s, ws.scope)
        rows = {names[r.contact_id]: r for r in (await recipients.for_campaign(draft.id)).items}
        opened = await recipients.set_status(rows["ada"].id, RecipientStatus.OPENED, at=NOW)
        assert opened.sent_at == opened.delivered_at == opened.opened_at == NOW
        assert opened.clicked_at is None
        clicked = await recipients.set_status(rows["ada"].id, RecipientStatus.CLICKED)
        assert clicked.opened_at == NOW and clicked.clicked_at is not None
        bounced = await recipients.set_status(rows["bob"].id, RecipientStatus.BOUNCED,
                                              error_message="550 no such user")
        assert bounced.error_message == "550 no such user" and bounced.delivered_at is None
        await recipients.set_status(rows["di"].id, RecipientStatus.DELIVERED)
        report = await campaigns.campaign_metrics(draft.id)
        assert report.by_status == {RecipientStatus.CLICKED: 1, RecipientStatus.BOUNCED: 1,
                                    RecipientStatus.DELIVERED: 1}
        assert report.metrics.model_dump() == {
            "sent": 3, "delivered": 2, "opened": 1, "clicked": 1, "bounced": 1,
            "unsubscribed": 0, "converted": 0}
        assert (report.delivery_rate, report.open_rate, report.click_to_open_rate) == (
            0.6667, 0.5, 1.0)
        assert report.bounce_rate == 0.3333 and report.conversion_rate == 0.0
        pending = await recipients.for_campaign(draft.id, status=RecipientStatus.PENDING)
        assert pending.items == []
        stored = await campaigns.refresh_metrics(draft.id)
        assert stored.metrics["delivered"] == 2 and stored.funnel().opened == 1
        empty = await campaigns.campaign_metrics(later.id)
        assert empty.recipients == 0 and empty.open_rate is None

        await campaigns.delete(draft.id)
        assert await recipients.count() == 0  # recipients cascade with their campaign


async def test_campaign_metrics_validation_and_median_open_rate(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        campaigns = CampaignRepository(s, ws.scope)
        assert await campaigns.median_open_rate() is None
        with pytest.raises(InvalidArgument, match="opened"):
            await campaigns.create(name="Bad", metrics={"opened": -1})
        with pytest.raises(InvalidArgument, match="clicks"):
            await campaigns.create_many([{"name": "Bad", "metrics": {"clicks": 3}}])
        done = CampaignStatus.COMPLETED
        rows: list[dict[str, Any]] = [
            {"name": "A", "status": done, "metrics": {"delivered": 100, "opened": 10}},
            {"name": "B", "status": done, "metrics": {"delivered": 100, "opened": 30}},
            {"name": "C", "status": done, "metrics": {"delivered": 50, "opened": 40}},
            {"name": "D", "status": done, "metrics": {"delivered": 0, "opened": 0}},
            {"name": "E", "status": CampaignStatus.ACTIVE,
             "metrics": {"delivered": 10, "opened": 10}},
        ]
        await campaigns.create_many(rows)
        assert await campaigns.median_open_rate() == 0.3
        stored = await campaigns.search(status=done, limit=10)
        assert len(stored.items) == 4
        assert all(set(c.metrics) == set(rows[0]["metrics"]) | {
            "sent", "clicked", "bounced", "unsubscribed", "converted"} for c in stored.items)


async def test_lead_scoring_recompute(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws, other = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        theirs = await ContactRepository(s, other.scope).create(first_name="T", lead_score=55,
                                                                 tags=["vip"])
    async with scoped_session(sessions, ws.scope) as s:
        names = await _people(ContactRepository(s, ws.scope))
        rules = LeadScoringRuleRepository(s, ws.scope)
        with pytest.raises(InvalidArgument, match="unknown contact field"):
            await rules.create(name="Bad", field="shoe", operator="eq", value=1, points=5)
        with pytest.raises(InvalidArgument, match="does not apply"):
            await rules.create_many([{"name": "Bad", "field": "tags", "operator": "gt",
                                      "value": 1, "points": 5}])
        vip = await rules.create(name="VIP", field="tags", operator="has_tag", value="vip",
                                 points=50, priority=2)
        await rules.create(name="Webinar", field="source", operator="eq", value="webinar",
                           points=20)
        await rules.create(name="Exec", field="job_title", operator="in",
                           value=["CEO", "CTO"], points=30)
        await rules.create(name="Churned", field="status", operator="eq", value="churned",
                           points=-100)
        off = await rules.create(name="Off", field="lead_score", operator="gte", value=0,
                                 points=1000, is_active=False)
        assert (await rules.active())[0].id == vip.id
        with pytest.raises(InvalidArgument, match="number"):
            await rules.update(off.id, value="lots")
        changed = await rules.recompute_lead_scores()
        scores = {names[c.id]: c.lead_score
                  for c in (await ContactRepository(s, ws.scope).list(limit=10)).items}
        assert scores == {"ada": 80, "bob": 20, "cy": 30, "di": 0}
        assert changed == 2  # ada (80) and di (0) already had those scores
        assert await rules.recompute_lead_scores() == 0
        await rules.update(off.id, is_active=True)
        assert await rules.recompute_lead_scores() == 4
        await rules.archive(off.id)
        await rules.delete(vip.id)
        assert await rules.recompute_lead_scores() == 4
    async with scoped_session(sessions, other.scope) as s:
        assert (await ContactRepository(s, other.scope).get(theirs.id)).lead_score == 55


async def test_lead_routing(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        users = [User(email=f"rep{i}-{uuid.uuid4().hex[:6]}@example.com") for i in range(2)]
        s.add_all(users)
        await s.flush()
        u1, u2 = (u.id for u in users)
        names = await _people(ContactRepository(s, ws.scope))
        contacts = {name: await ContactRepository(s, ws.scope).get(cid)
                    for cid, name in names.items()}
        routing = LeadRoutingRuleRepository(s, ws.scope)
        assert await routing.route(contacts["ada"]) is None
        with pytest.raises(InvalidArgument, match="unknown contact field"):
            await routing.create(name="Bad", conditions={"conditions": [
                {"field": "zodiac", "operator": "eq", "value": "leo"}]})
        with pytest.raises(InvalidArgument, match="round-robin users"):
            await routing.create(name="Bad", round_robin_users=["not-a-uuid"])
        vip = await routing.create(name="VIP", priority=10, assign_to=ws.user_id,
                                   conditions={"conditions": [
                                       {"field": "tags", "operator": "has_tag", "value": "vip"}]})
        await routing.create(name="Webinar pool", priority=5, round_robin=True,
                             round_robin_users=[str(u1), u2], conditions={"conditions": [
                                 {"field": "source", "operator": "eq", "value": "webinar"}]})
        await routing.create(name="Sleeping", priority=100, is_active=False, assign_to=u1)
        decision = await routing.route(contacts["ada"])
        assert decision is not None and (decision.rule_id, decision.user_id) == (
            vip.id, ws.user_id)
        owners = [(await routing.route(contacts[n])) for n in ("bob", "di", "bob")]
        assert [o.user_id for o in owners if o] == [u1, u2, u1]
        assert await routing.route(contacts["cy"]) is None
        await routing.create(name="Fallback", priority=-1, conditions={"conditions": []},
                             assign_to=u2)
        fallback = await routing.route(contacts["cy"])
        assert fallback is not None and fallback.rule_name == "Fallback"


async def test_channels_and_automation(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        channels = ChannelRepository(s, ws.scope)
        email = await channels.create(name="Email", type=ChannelType.EMAIL, budget_cents=100,
                                      spent_cents=150)
        await channels.create(name="Ads", type=ChannelType.ADS, budget_cents=100, spent_cents=50)
        paused = await channels.create(name="SEO", type=ChannelType.SEO,
                                       status=ChannelStatus.PAUSED)
        assert [c.name for c in await channels.active()] == ["Ads", "Email"]
        assert [c.id for c in await channels.over_budget()] == [email.id]
        assert (await channels.archive(paused.id)).status == ChannelStatus.ARCHIVED

        rules = AutomationRuleRepository(s, ws.scope)
        welcome = await rules.create(name="Welcome", trigger_type=TriggerType.LEAD_CREATED,
                                     action_type=ActionType.SEND_EMAIL,
                                     status=AutomationStatus.ACTIVE)
        await rules.create(name="Draft", trigger_type=TriggerType.LEAD_CREATED,
                           action_type=ActionType.ADD_TAG)
        await rules.create(name="Other", trigger_type=TriggerType.DEAL_WON,
                           action_type=ActionType.CREATE_TASK, status=AutomationStatus.ACTIVE)
        active = await rules.active_for_trigger(TriggerType.LEAD_CREATED)
        assert [r.id for r in active] == [welcome.id]
        await rules.record_execution(welcome.id)
        ran = await rules.record_execution(welcome.id)
        assert ran.execution_count == 2 and ran.last_executed_at is not None
        assert (await rules.get(welcome.id)).execution_count == 2
        assert (await rules.archive(welcome.id)).status == AutomationStatus.ARCHIVED
        assert await rules.active_for_trigger(TriggerType.LEAD_CREATED) == []
        with pytest.raises(NotFound):
            await rules.record_execution(uuid.uuid4())


async def test_another_workspace_is_invisible(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        segment = await SegmentRepository(s, b.scope).create(name="Theirs")
        campaign = await CampaignRepository(s, b.scope).create(name="Theirs",
                                                               segment_id=segment.id)
        rule = await AutomationRuleRepository(s, b.scope).create(
            name="Theirs", trigger_type=TriggerType.DEAL_WON, action_type=ActionType.ADD_TAG)
    async with scoped_session(sessions, a.scope) as s:
        with pytest.raises(NotFound):
            await SegmentRepository(s, a.scope).recalculate(segment.id)
        campaigns = CampaignRepository(s, a.scope)
        with pytest.raises(NotFound):
            await campaigns.materialize_recipients(campaign.id)
        with pytest.raises(NotFound):
            await campaigns.campaign_metrics(campaign.id)
        with pytest.raises(NotFound):
            await AutomationRuleRepository(s, a.scope).record_execution(rule.id)
        assert await campaigns.due_to_send(NOW + timedelta(days=999)) == []
    with pytest.raises(NotFound, match="segment"):
        async with scoped_session(sessions, a.scope) as s:
            await CampaignRepository(s, a.scope).create(name="Sneaky", segment_id=segment.id)


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5, now=NOW)
        await crm_demo.seed(ctx)
        await marketing_demo.seed(ctx)
        campaigns = CampaignRepository(s, ws.scope)
        seeded = (await campaigns.list(limit=50)).items
        assert {c.status for c in seeded} == set(CampaignStatus)
        assert len(seeded) == len(ctx.ids["campaigns"]) >= 8
        assert await campaigns.not_ready()
        assert await campaigns.median_open_rate() is not None
        completed = [c for c in seeded if c.status == CampaignStatus.COMPLETED]
        for campaign in completed:
            report = await campaigns.campaign_metrics(campaign.id)
            assert report.metrics.model_dump() == campaign.metrics
        assert sum(c.funnel().delivered for c in completed) > 0
        segments = SegmentRepository(s, ws.scope)
        for segment in (await segments.list(limit=10)).items:
            assert segment.last_calculated_at is not None
            assert segment.contact_count == (await segments.preview(segment.rules)).count
        assert await segments.count() == 4
        assert await LeadScoringRuleRepository(s, ws.scope).recompute_lead_scores() == 0
        assert await AutomationRuleRepository(s, ws.scope).active_for_trigger(
            TriggerType.LEAD_CREATED)
        assert await LeadRoutingRuleRepository(s, ws.scope).count() == 3
