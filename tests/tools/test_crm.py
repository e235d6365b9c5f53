"""CRM tools against the real database: every tool's effect on its table and the audit log,
bad arguments, roles, and ids from another workspace."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

import tools.crm  # registers the CRM tools
from store.models.core import MemberRole
from store.models.crm import (
    ContactStatus,
    CustomerStatus,
    DealStage,
    InteractionType,
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
from tests.conftest import WorkspaceFixture, create_workspace
from tests.tools.helpers import (
    CallTool,
    Sessions,
    add_member,
    audits,
    count,
    fetch,
    seed,
)
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import registry
from tools.workspace import today

CRM_TOOLS = sorted(t.name for t in registry if t.fn.__module__.startswith(tools.crm.__name__))


# -- contacts --------------------------------------------------------------------------------


async def test_search_contacts_by_words_status_tag_and_pages(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada", last_name="Lovelace",
                     company="Analytical Engines", tags=["vip"], status=ContactStatus.ACTIVE)
    for i in range(3):
        await seed(sessions, ws, ContactRepository, first_name=f"Bob{i}", company="Acme")
    found = await call_tool(ws, "search_contacts", {"query": "ada analytical"},
                            role=MemberRole.VIEWER)
    assert [c.id for c in found.contacts] == [ada] and not found.has_more
    assert [c.id for c in (await call_tool(ws, "search_contacts", {"tag": "vip"})).contacts] == [
        ada]
    assert len((await call_tool(ws, "search_contacts", {"status": "lead"})).contacts) == 3
    first = await call_tool(ws, "search_contacts", {"query": "acme", "limit": 2})
    assert first.has_more and len(first.contacts) == 2
    rest = await call_tool(ws, "search_contacts",
                           {"query": "acme", "limit": 2, "cursor": first.next_cursor})
    assert len(rest.contacts) == 1 and not rest.has_more
    for bad in ({"limit": 0}, {"limit": 51}, {"status": "vip"}, {"cursor": "garbage"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "search_contacts", bad)


async def test_get_contact_and_timeline(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada", owner_id=ws.user_id,
                     source="webinar")
    deal = await seed(sessions, ws, DealRepository, name="Ada pilot", contact_id=ada,
                      value_cents=123_45)
    start = datetime.now(UTC) - timedelta(days=10)
    for i in range(7):
        await seed(sessions, ws, InteractionRepository, contact_id=ada, type=InteractionType.CALL,
                   subject=f"call {i}", completed_at=start + timedelta(days=i),
                   created_at=start + timedelta(days=i))
    detail = await call_tool(ws, "get_contact", {"contact_id": str(ada)}, role=MemberRole.VIEWER)
    assert (detail.contact.name, detail.source) == ("Ada", "webinar")
    assert detail.owner_name.startswith("Test Owner")
    assert [(d.id, str(d.value)) for d in detail.deals] == [(deal, "123.45")]
    assert [i.subject for i in detail.recent_interactions] == [f"call {i}" for i in (6, 5, 4, 3, 2)]
    page = await call_tool(ws, "get_contact_timeline", {"contact_id": str(ada), "limit": 4})
    assert len(page.interactions) == 4 and page.has_more
    rest = await call_tool(ws, "get_contact_timeline",
                           {"contact_id": str(ada), "limit": 4, "cursor": page.next_cursor})
    assert [i.subject for i in rest.interactions] == ["call 2", "call 1", "call 0"]
    with pytest.raises(RetryableToolError, match="no contact"):
        await call_tool(ws, "get_contact", {"contact_id": str(uuid.uuid4())})
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "get_contact_timeline", {"contact_id": "not-a-uuid"})


async def test_create_contact_writes_row_and_audit(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    made = await call_tool(ws, "create_contact", {
        "first_name": "Ada", "last_name": "Lovelace", "email": "ada@ae.com",
        "company": "Analytical Engines", "tags": ["vip"]}, role=MemberRole.MEMBER)
    row = await fetch(sessions, ws, ContactRepository, made.contact.id)
    assert (row.email, row.owner_id, row.status, row.tags) == (
        "ada@ae.com", ws.user_id, ContactStatus.LEAD, ["vip"])
    [audit] = await audits(sessions, ws)
    assert (audit.action, audit.entity_type, audit.entity_id, audit.user_id) == (
        "create", "contact", str(row.id), ws.user_id)
    assert audit.changes["email"] == {"before": None, "after": "ada@ae.com"}
    assert audit.meta["idempotency_key"].startswith("test:")
    with pytest.raises(ToolFailed, match="already has email"):
        await call_tool(ws, "create_contact", {"first_name": "Other", "email": "ada@ae.com"})
    for bad in ({}, {"company": "No name"}, {"first_name": "X", "email": "nope"},
                {"first_name": "X", "status": "friend"}, {"first_name": "X", "tags": [""]}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_contact", bad)
    assert await count(sessions, ws, ContactRepository) == 1
    assert len(await audits(sessions, ws)) == 1


async def test_update_contact_changes_only_given_fields(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lee = await add_member(sessions, ws, "Lee")
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada", email="ada@ae.com",
                     phone="+1415", company="AE")
    await seed(sessions, ws, ContactRepository, first_name="Bob", email="bob@x.io")
    result = await call_tool(ws, "update_contact", {
        "contact_id": str(ada), "status": "customer", "owner_id": str(lee), "email": None,
        "clear": ["phone"]})
    assert (result.contact.status, result.contact.owner_id) == (ContactStatus.CUSTOMER, lee)
    row = await fetch(sessions, ws, ContactRepository, ada)
    assert (row.email, row.phone, row.company, row.status) == (
        "ada@ae.com", None, "AE", ContactStatus.CUSTOMER)
    [audit] = await audits(sessions, ws)
    assert audit.action == "update" and set(audit.changes) == {"status", "owner_id", "phone"}
    assert audit.changes["phone"] == {"before": "+1415", "after": None}
    with pytest.raises(ToolFailed, match="already has email"):
        await call_tool(ws, "update_contact", {"contact_id": str(ada), "email": "BOB@x.io"})
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "update_contact", {"contact_id": str(ada), "clear": ["first_name"]})
    with pytest.raises(RetryableToolError, match="nothing to change"):
        await call_tool(ws, "update_contact", {"contact_id": str(ada), "status": None})
    with pytest.raises(RetryableToolError, match="team member"):
        await call_tool(ws, "update_contact", {"contact_id": str(ada),
                                               "owner_id": str(uuid.uuid4())})
    assert len(await audits(sessions, ws)) == 1


async def test_log_interaction_records_and_touches_contact(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada")
    deal = await seed(sessions, ws, DealRepository, name="Pilot", contact_id=ada)
    when = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    logged = await call_tool(ws, "log_interaction", {
        "contact_id": str(ada), "deal_id": str(deal), "type": "call", "direction": "outbound",
        "summary": "Wants a proposal by Friday", "duration_minutes": 25,
        "occurred_at": when.isoformat()})
    row = await fetch(sessions, ws, InteractionRepository, logged.interaction.id)
    assert (row.deal_id, row.duration_seconds, row.completed_at, row.user_id) == (
        deal, 1500, when, ws.user_id)
    assert row.content == "Wants a proposal by Friday"
    assert (await fetch(sessions, ws, ContactRepository, ada)).last_contacted_at == when
    future = datetime.now(UTC) + timedelta(days=3)
    planned = await call_tool(ws, "log_interaction", {
        "contact_id": str(ada), "type": "meeting", "summary": "Kickoff",
        "occurred_at": future.isoformat()})
    assert planned.interaction.scheduled and planned.contact.last_contacted_at == when
    assert sorted((a.entity_type, a.action) for a in await audits(sessions, ws)) == [
        ("contact", "update"), ("crm_interaction", "create"), ("crm_interaction", "create")]
    for bad in ({"contact_id": str(ada), "type": "call", "summary": ""},
                {"contact_id": str(ada), "type": "fax", "summary": "x"},
                {"contact_id": str(ada), "type": "call", "summary": "x",
                 "occurred_at": "2025-03-04T15:30:00"},
                {"contact_id": str(ada), "type": "call", "summary": "x", "duration_minutes": -1}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "log_interaction", bad)
    assert await count(sessions, ws, InteractionRepository) == 2


async def test_delete_contact_removes_history_and_unlinks_deals(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada")
    deal = await seed(sessions, ws, DealRepository, name="Pilot", contact_id=ada)
    await seed(sessions, ws, InteractionRepository, contact_id=ada, type=InteractionType.NOTE)
    with pytest.raises(ToolFailed):
        await call_tool(ws, "delete_contact", {"contact_id": str(ada)}, role=MemberRole.VIEWER)
    result = await call_tool(ws, "delete_contact", {"contact_id": str(ada)})
    assert (result.deleted_id, result.name) == (ada, "Ada") and "1 interaction" in result.detail
    assert await fetch(sessions, ws, ContactRepository, ada) is None
    assert await count(sessions, ws, InteractionRepository) == 0
    assert (await fetch(sessions, ws, DealRepository, deal)).contact_id is None
    [audit] = await audits(sessions, ws)
    assert (audit.action, audit.changes["first_name"]) == (
        "delete", {"before": "Ada", "after": None})
    assert registry.get("delete_contact").risk == "critical"


# -- deals -----------------------------------------------------------------------------------


async def test_search_and_get_deals(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lee = await add_member(sessions, ws, "Lee")
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada")
    mine = await seed(sessions, ws, DealRepository, name="Acme renewal", contact_id=ada,
                      owner_id=ws.user_id, stage=DealStage.PROPOSAL, notes="call back")
    theirs = await seed(sessions, ws, DealRepository, name="Globex pilot", owner_id=lee,
                        stage=DealStage.CLOSED_WON)
    await seed(sessions, ws, InteractionRepository, contact_id=ada, deal_id=mine,
               type=InteractionType.EMAIL, subject="pricing")

    async def ids(args: dict[str, Any]) -> list[uuid.UUID]:
        result = await call_tool(ws, "search_deals", args, role=MemberRole.VIEWER)
        return [d.id for d in result.deals]

    assert await ids({"query": "acme"}) == [mine]
    assert await ids({"mine": True}) == [mine]
    assert await ids({"owner_id": str(lee)}) == [theirs]
    assert await ids({"open_only": True}) == [mine]
    assert await ids({"stage": "closed_won"}) == [theirs]
    assert await ids({"contact_id": str(ada)}) == [mine]
    detail = await call_tool(ws, "get_deal", {"deal_id": str(mine)})
    assert (detail.contact.id, detail.notes) == (ada, "call back")
    assert detail.deal.owner_name.startswith("Test Owner")
    assert [i.subject for i in detail.recent_interactions] == ["pricing"]
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "search_deals", {"stage": "won"})


async def test_pipeline_summary_per_currency(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    await seed(sessions, ws, DealRepository, name="A", value_cents=1_000_00, probability=50,
               stage=DealStage.PROPOSAL)
    await seed(sessions, ws, DealRepository, name="B", value_cents=200_00, probability=10)
    await seed(sessions, ws, DealRepository, name="C", value_cents=5_000_00,
               stage=DealStage.CLOSED_WON, probability=100)
    await seed(sessions, ws, DealRepository, name="E", value_cents=700_00, currency="EUR")
    usd = await call_tool(ws, "get_pipeline_summary", {}, role=MemberRole.VIEWER)
    assert (usd.currency, usd.open_deals, str(usd.open_value), str(usd.open_weighted_value)) == (
        "USD", 2, "1200.00", "520.00")
    won = next(s for s in usd.stages if s.stage == DealStage.CLOSED_WON)
    assert (won.deals, str(won.value)) == (1, "5000.00")
    eur = await call_tool(ws, "get_pipeline_summary", {"currency": "eur"})
    assert (eur.currency, eur.open_deals, str(eur.open_value)) == ("EUR", 1, "700.00")
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "get_pipeline_summary", {"currency": "euros"})


async def test_deals_closing_soon_and_overdue(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    now = today()
    soon = await seed(sessions, ws, DealRepository, name="soon",
                      expected_close_date=now + timedelta(days=5))
    await seed(sessions, ws, DealRepository, name="later",
               expected_close_date=now + timedelta(days=60))
    late = await seed(sessions, ws, DealRepository, name="late",
                      expected_close_date=now - timedelta(days=3))
    await seed(sessions, ws, DealRepository, name="won", stage=DealStage.CLOSED_WON,
               expected_close_date=now + timedelta(days=2))
    result = await call_tool(ws, "get_deals_closing_soon", {"days": 30})
    assert ([d.id for d in result.closing], [d.id for d in result.overdue]) == ([soon], [late])
    wide = await call_tool(ws, "get_deals_closing_soon", {"days": 90, "include_overdue": False})
    assert (wide.closing_total, wide.overdue) == (2, [])
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "get_deals_closing_soon", {"days": 0})


async def test_create_deal_converts_money_and_defaults(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada")
    made = await call_tool(ws, "create_deal", {
        "title": "Acme renewal", "value": "12000.50", "stage": "proposal",
        "expected_close_date": "2030-03-31", "contact_id": str(ada)})
    row = await fetch(sessions, ws, DealRepository, made.deal.id)
    assert (row.name, row.value_cents, row.currency, row.probability, row.owner_id) == (
        "Acme renewal", 1_200_050, "USD", 50, ws.user_id)
    assert (row.stage, row.contact_id, row.expected_close_date) == (
        DealStage.PROPOSAL, ada, date(2030, 3, 31))
    assert (str(made.deal.value), made.deal.owner_name is not None) == ("12000.50", True)
    [audit] = await audits(sessions, ws)
    assert (audit.entity_type, audit.action, audit.changes["value_cents"]["after"]) == (
        "deal", "create", 1_200_050)
    for bad in ({"title": ""}, {"title": "X", "value": -1}, {"title": "X", "value": "1.234"},
                {"title": "X", "stage": "won"}, {"title": "X", "probability": 101},
                {"title": "X", "expected_close_date": "March"},
                {"title": "X", "owner_id": str(uuid.uuid4())},
                {"title": "X", "contact_id": str(uuid.uuid4())}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_deal", bad)
    assert await count(sessions, ws, DealRepository) == 1 and len(await audits(sessions, ws)) == 1


async def test_update_deal_stage_value_owner_and_reopen(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lee = await add_member(sessions, ws, "Lee")
    deal = await seed(sessions, ws, DealRepository, name="Pilot", value_cents=100_00,
                      expected_close_date=date(2030, 1, 1))
    moved = await call_tool(ws, "update_deal", {
        "deal_id": str(deal), "stage": "negotiation", "value": 15000, "owner_id": str(lee),
        "clear": ["expected_close_date"]})
    assert (moved.deal.stage, moved.deal.probability, str(moved.deal.value)) == (
        DealStage.NEGOTIATION, 75, "15000.00")
    row = await fetch(sessions, ws, DealRepository, deal)
    assert (row.owner_id, row.expected_close_date, row.value_cents) == (lee, None, 1_500_000)
    won = await call_tool(ws, "update_deal", {"deal_id": str(deal), "stage": "closed_won"})
    assert (won.deal.probability, won.deal.actual_close_date) == (100, today())
    reopened = await call_tool(ws, "update_deal", {"deal_id": str(deal), "stage": "proposal"})
    assert (reopened.deal.actual_close_date, reopened.deal.probability) == (None, 50)
    renamed = await call_tool(ws, "update_deal", {"deal_id": str(deal), "title": "Pilot v2"})
    assert renamed.deal.name == "Pilot v2"
    actions = [(a.action, sorted(a.changes)) for a in await audits(sessions, ws)]
    assert actions[0] == ("stage_change", ["expected_close_date", "owner_id", "probability",
                                           "stage", "value_cents"])
    assert [a for a, _ in actions] == ["stage_change", "stage_change", "stage_change", "update"]
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "update_deal", {"deal_id": str(deal), "clear": ["stage"]})


async def test_delete_deal_keeps_interactions(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada")
    deal = await seed(sessions, ws, DealRepository, name="Pilot", contact_id=ada)
    note = await seed(sessions, ws, InteractionRepository, contact_id=ada, deal_id=deal,
                      type=InteractionType.NOTE)
    result = await call_tool(ws, "delete_deal", {"deal_id": str(deal)})
    assert result.deleted_id == deal and await fetch(sessions, ws, DealRepository, deal) is None
    assert (await fetch(sessions, ws, InteractionRepository, note)).deal_id is None
    [audit] = await audits(sessions, ws)
    assert (audit.action, audit.entity_type, audit.changes["name"]["before"]) == (
        "delete", "deal", "Pilot")


# -- prospects, customers, projects ----------------------------------------------------------


async def test_prospect_create_list_and_move(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    made = await call_tool(ws, "create_prospect", {"name": "Acme expansion", "value": "20000"})
    row = await fetch(sessions, ws, ProspectRepository, made.prospect.id)
    assert (row.value_cents, row.stage, row.probability, row.owner_id) == (
        2_000_000, ProspectStage.NEW, 10, ws.user_id)
    await seed(sessions, ws, ProspectRepository, name="Lost one", stage=ProspectStage.LOST)
    moved = await call_tool(ws, "update_prospect_stage", {
        "prospect_id": str(row.id), "stage": "qualified", "note": "budget confirmed"})
    assert (moved.prospect.stage, moved.prospect.probability) == (ProspectStage.QUALIFIED, 40)
    assert moved.prospect.notes == f"[{today().isoformat()}] budget confirmed"
    listed = await call_tool(ws, "list_prospects", {"open_only": True}, role=MemberRole.VIEWER)
    assert ([p.id for p in listed.prospects], listed.total) == ([row.id], 1)
    assert (await call_tool(ws, "list_prospects", {"stage": "lost"})).total == 1
    assert [(a.action, a.entity_type) for a in await audits(sessions, ws)] == [
        ("create", "prospect"), ("stage_change", "prospect")]
    for bad in ({"name": "X", "value": "1.001"}, {"name": "X", "stage": "done"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_prospect", bad)


async def test_convert_prospect_to_customer_once(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ada = await seed(sessions, ws, ContactRepository, first_name="Ada", email="ada@acme.com",
                     company="Acme Inc")
    prospect = await seed(sessions, ws, ProspectRepository, name="Acme deal", contact_id=ada,
                          stage=ProspectStage.NEGOTIATION, currency="EUR")
    result = await call_tool(ws, "convert_prospect_to_customer", {"prospect_id": str(prospect)})
    assert (result.customer.name, result.customer.email, result.customer.currency) == (
        "Acme Inc", "ada@acme.com", "EUR")
    assert (result.prospect.stage, result.prospect.converted_customer_id) == (
        ProspectStage.WON, result.customer.id)
    assert not result.already_converted
    assert (await fetch(sessions, ws, ContactRepository, ada)).status == ContactStatus.CUSTOMER
    assert sorted((a.entity_type, a.action) for a in await audits(sessions, ws)) == [
        ("contact", "update"), ("customer", "create"), ("prospect", "convert")]
    again = await call_tool(ws, "convert_prospect_to_customer", {"prospect_id": str(prospect)})
    assert again.already_converted and again.customer.id == result.customer.id
    assert await count(sessions, ws, CustomerRepository) == 1
    with pytest.raises(ToolFailed, match="converted"):
        await call_tool(ws, "update_prospect_stage", {"prospect_id": str(prospect),
                                                      "stage": "lost"})
    lost = await seed(sessions, ws, ProspectRepository, name="Gone", stage=ProspectStage.LOST)
    with pytest.raises(ToolFailed, match="lost"):
        await call_tool(ws, "convert_prospect_to_customer", {"prospect_id": str(lost)})
    assert len(await audits(sessions, ws)) == 3


async def test_customers_list_create_update(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lee = await add_member(sessions, ws, "Lee")
    await seed(sessions, ws, CustomerRepository, name="Globex", status=CustomerStatus.CHURNED)
    made = await call_tool(ws, "create_customer", {
        "name": "Acme Inc", "email": "billing@acme.com", "tags": ["enterprise"]})
    row = await fetch(sessions, ws, CustomerRepository, made.customer.id)
    assert (row.assigned_to, row.status, row.currency) == (
        ws.user_id, CustomerStatus.ACTIVE, "USD")
    listed = await call_tool(ws, "list_customers", {}, role=MemberRole.VIEWER)
    assert ([c.name for c in listed.customers], listed.total) == (["Acme Inc", "Globex"], 2)
    assert [c.name for c in (await call_tool(ws, "list_customers", {"query": "billing@"})
                             ).customers] == ["Acme Inc"]
    assert (await call_tool(ws, "list_customers", {"status": "churned", "limit": 1})).total == 1
    updated = await call_tool(ws, "update_customer", {
        "customer_id": str(row.id), "status": "inactive", "assigned_to": str(lee),
        "clear": ["email"]})
    assert (updated.customer.status, updated.customer.assigned_to, updated.customer.email) == (
        CustomerStatus.INACTIVE, lee, None)
    assert [(a.action, a.entity_type) for a in await audits(sessions, ws)] == [
        ("create", "customer"), ("update", "customer")]
    for name, bad in (("create_customer", {"name": ""}),
                      ("create_customer", {"name": "X", "currency": "dollars"}),
                      ("list_customers", {"status": "gold"}),
                      ("update_customer", {"customer_id": str(row.id), "status": "gold"})):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, name, bad)


async def test_projects_create_update_list(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    acme = await seed(sessions, ws, CustomerRepository, name="Acme")
    made = await call_tool(ws, "create_project", {
        "name": "Rollout", "customer_id": str(acme), "budget": "30000",
        "start_date": "2030-01-01", "end_date": "2030-06-30"})
    row = await fetch(sessions, ws, ProjectRepository, made.project.id)
    assert (row.budget_cents, row.manager_id, row.status) == (
        3_000_000, ws.user_id, ProjectStatus.PLANNING)
    await seed(sessions, ws, ProjectRepository, name="Other", status=ProjectStatus.CANCELLED)
    done = await call_tool(ws, "update_project", {"project_id": str(row.id),
                                                  "status": "completed", "budget": 40000})
    assert (done.project.actual_end_date, str(done.project.budget)) == (today(), "40000.00")
    listed = await call_tool(ws, "list_projects", {"customer_id": str(acme)},
                             role=MemberRole.VIEWER)
    assert ([p.id for p in listed.projects], listed.total) == ([row.id], 1)
    assert (await call_tool(ws, "list_projects", {"active_only": True})).total == 0
    resumed = await call_tool(ws, "update_project", {"project_id": str(row.id),
                                                     "status": "in_progress"})
    assert resumed.project.actual_end_date is None
    with pytest.raises(RetryableToolError, match="before"):
        await call_tool(ws, "update_project", {"project_id": str(row.id),
                                               "end_date": "2029-12-31"})
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "create_project", {"name": "X", "start_date": "2030-02-01",
                                               "end_date": "2030-01-01"})
    assert [a.action for a in await audits(sessions, ws)] == ["create", "update", "update"]


# -- roles and tenancy across every CRM tool -------------------------------------------------


def test_every_crm_tool_is_covered_by_the_tables_below() -> None:
    assert set(CRM_TOOLS) == set(READ_ARGS) | set(WRITE_ARGS)


@pytest.mark.parametrize("name", sorted(t for t in CRM_TOOLS if registry.get(t).writes))
async def test_viewers_cannot_use_crm_writes(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions, name: str
) -> None:
    with pytest.raises(ToolFailed, match="member role"):
        await call_tool(ws, name, {}, role=MemberRole.VIEWER)


@dataclass
class Foreign:
    """One of each CRM row, in another workspace."""

    contact: uuid.UUID
    deal: uuid.UUID
    prospect: uuid.UUID
    customer: uuid.UUID
    project: uuid.UUID
    member: uuid.UUID


@pytest.fixture(scope="module")
async def foreign(sessions: Sessions) -> tuple[WorkspaceFixture, Foreign]:
    other = await create_workspace(sessions)
    contact = await seed(sessions, other, ContactRepository, first_name="Eve", email="e@x.io")
    customer = await seed(sessions, other, CustomerRepository, name="EvilCorp")
    return other, Foreign(
        contact=contact, deal=await seed(sessions, other, DealRepository, name="Theirs"),
        prospect=await seed(sessions, other, ProspectRepository, name="Theirs"),
        customer=customer,
        project=await seed(sessions, other, ProjectRepository, name="Theirs",
                           customer_id=customer),
        member=other.user_id,
    )


Args = Callable[[Foreign], dict[str, Any]]
READ_ARGS: dict[str, Args] = {
    "search_contacts": lambda f: {"cursor": "x"},
    "get_contact": lambda f: {"contact_id": str(f.contact)},
    "get_contact_timeline": lambda f: {"contact_id": str(f.contact)},
    "search_deals": lambda f: {"contact_id": str(f.contact)},
    "get_deal": lambda f: {"deal_id": str(f.deal)},
    "get_pipeline_summary": lambda f: {"currency": "1"},
    "get_deals_closing_soon": lambda f: {"days": 1000},
    "list_prospects": lambda f: {"offset": -1},
    "list_customers": lambda f: {"limit": 0},
    "list_projects": lambda f: {"customer_id": str(f.customer)},
}
WRITE_ARGS: dict[str, Args] = {
    "create_contact": lambda f: {"first_name": "X", "owner_id": str(f.member)},
    "update_contact": lambda f: {"contact_id": str(f.contact), "first_name": "X"},
    "log_interaction": lambda f: {"contact_id": str(f.contact), "type": "call", "summary": "x"},
    "delete_contact": lambda f: {"contact_id": str(f.contact)},
    "create_deal": lambda f: {"title": "X", "contact_id": str(f.contact)},
    "update_deal": lambda f: {"deal_id": str(f.deal), "stage": "closed_won"},
    "delete_deal": lambda f: {"deal_id": str(f.deal)},
    "create_prospect": lambda f: {"name": "X", "contact_id": str(f.contact)},
    "update_prospect_stage": lambda f: {"prospect_id": str(f.prospect), "stage": "won"},
    "convert_prospect_to_customer": lambda f: {"prospect_id": str(f.prospect)},
    "create_customer": lambda f: {"name": "X", "assigned_to": str(f.member)},
    "update_customer": lambda f: {"customer_id": str(f.customer), "name": "X"},
    "create_project": lambda f: {"name": "X", "customer_id": str(f.customer)},
    "update_project": lambda f: {"project_id": str(f.project), "name": "X"},
}


@pytest.mark.parametrize("name", sorted(READ_ARGS | WRITE_ARGS))
async def test_ids_from_another_workspace_are_not_found(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
    foreign: tuple[WorkspaceFixture, Foreign], name: str,
) -> None:
    """Reads get ids of another workspace (or, where a read takes no id, a bad argument);
    writes get a foreign id and must write nothing anywhere."""
    other, ids = foreign
    with pytest.raises(RetryableToolError):
        await call_tool(ws, name, (READ_ARGS | WRITE_ARGS)[name](ids))
    assert await audits(sessions, ws) == [] and await audits(sessions, other) == []
    for repo in (ContactRepository, DealRepository, ProspectRepository, CustomerRepository,
                 ProjectRepository, InteractionRepository):
        assert await count(sessions, ws, repo) == 0
    assert (await fetch(sessions, other, ContactRepository, ids.contact)).first_name == "Eve"
    deal = await fetch(sessions, other, DealRepository, ids.deal)
    assert (deal.name, deal.stage) == ("Theirs", DealStage.QUALIFICATION)
    assert (await fetch(sessions, other, ProspectRepository, ids.prospect)).stage == "new"
    assert (await fetch(sessions, other, CustomerRepository, ids.customer)).name == "EvilCorp"
    assert (await fetch(sessions, other, ProjectRepository, ids.project)).name == "Theirs"


def test_approval_titles_read_from_the_arguments() -> None:
    assert registry.get("create_deal").describe_call({"title": "Acme renewal"}) == (
        "Create deal Acme renewal")
    assert registry.get("delete_contact").describe_call({}) == "Delete contact ?"
    assert registry.get("update_prospect_stage").describe_call(
        {"prospect_id": "p1", "stage": "won"}) == "Move prospect p1 to won"
