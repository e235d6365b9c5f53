"""Insights, preferences and memory as a user meets them: chat turns over the REST API against the
scripted model, whose received requests show the system prompt the runtime built."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.admin import TodoHqTask
from store.models.ai import AiMessage, InsightStatus, WorkspaceIntelligence
from store.models.core import MemberRole
from store.models.neptune import MemoryFact, OutboundMessage
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, Member, new_chat
from tests.insights.conftest import Seed
from tests.insights.test_detectors import invoice_fire, past_close_fire, stalled_fire
from tests.model_server import Call, ModelServer, Text, ToolCalls

Sessions = async_sessionmaker[AsyncSession]
FISCAL = "Our fiscal year starts in April"


def system_prompt(server: ModelServer, index: int = -1) -> str:
    content = server.requests[index].messages[0]["content"]
    assert server.requests[index].messages[0]["role"] == "system"
    return str(content)


async def say(client: httpx.AsyncClient, member: Member, conversation_id: str, text: str,
              page: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"text": text, **({"page": page} if page else {})}
    response = await client.post(f"/v1/conversations/{conversation_id}/messages", json=body,
                                 headers=member.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert result["status"] == "complete", result
    return result


async def rows(sessions: Sessions, member: Member, model: Any, *where: Any) -> list[Any]:
    async with scoped_session(sessions, member.ws.scope) as session:
        stmt = sa.select(model).where(model.workspace_id == member.ws.workspace_id, *where)
        return list(await session.scalars(stmt))


# -- insights in the context ------------------------------------------------------------------
async def test_a_turn_on_a_deals_page_surfaces_that_deals_insight(
    client: httpx.AsyncClient, owner: Member, other: Member, server: ModelServer,
    sessions: Sessions, now: datetime,
) -> None:
    mine, theirs = Seed(sessions, owner.ws, now), Seed(sessions, other.ws, now)
    deal = await stalled_fire(mine)
    await past_close_fire(mine)
    await stalled_fire(theirs)
    await mine.sweep()
    await theirs.sweep()
    insight = await mine.insight(f"stalled_deals:{deal.key}")
    foreign = (await theirs.insights("stalled_deals"))[0]

    conversation = await new_chat(client, owner)
    server.script(Text("It has not moved."), Text("Still stalled."), Text("Nothing new."))
    page = {"page": "crm/deals", "record_type": "deal", "record_id": str(deal.record_id)}
    await say(client, owner, conversation, "How is this deal doing?", page)
    first = system_prompt(server)
    assert f"[{insight.id}]" in first and insight.title in first
    assert "create_task" in first  # its suggested action is offered
    assert str(foreign.id) not in first
    assert (await mine.insight(insight.fingerprint)).status == InsightStatus.SEEN

    await say(client, owner, conversation, "And what should I do?", page)
    assert f"[{insight.id}]" in system_prompt(server)  # seen, but it is the record on screen

    await say(client, owner, conversation, "Anything else?")
    assert f"[{insight.id}]" not in system_prompt(server)  # seen, and not on this page
    answers = await rows(sessions, owner, AiMessage, AiMessage.role == "assistant")
    refs = [m.prompt_ref.split("#")[0] for m in sorted(answers, key=lambda m: m.seq)]
    # the background's template is on record with the turns that had one
    assert refs == ["system@v1", "system@v1", "system@v1"]
    assert [m.prompt_ref.count("+workspace_memory@v1#") for m in
            sorted(answers, key=lambda m: m.seq)] == [1, 1, 0]


async def test_a_dismissed_insight_is_not_offered_on_its_page(
    client: httpx.AsyncClient, owner: Member, server: ModelServer, sessions: Sessions,
    now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    deal = await stalled_fire(mine)
    await mine.sweep("stalled_deals")
    insight = await mine.insight(f"stalled_deals:{deal.key}")
    response = await client.post(f"/v1/insights/{insight.id}/dismiss", headers=owner.headers)
    assert response.status_code == 200 and response.json()["status"] == "dismissed"
    server.script(Text("Fine."))
    await say(client, owner, await new_chat(client, owner), "How is it going?",
              {"record_type": "deal", "record_id": str(deal.record_id)})
    assert str(insight.id) not in system_prompt(server)


# -- acting on an insight ---------------------------------------------------------------------
async def test_acting_runs_a_low_risk_suggestion_at_once(
    client: httpx.AsyncClient, owner: Member, other: Member, sessions: Sessions, now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    deal = await stalled_fire(mine)
    await mine.sweep("stalled_deals")
    insight = await mine.insight(f"stalled_deals:{deal.key}")

    refused = await client.post(f"/v1/insights/{insight.id}/act", json={"action": 0},
                                headers=other.headers)
    assert refused.status_code == 404
    assert refused.headers["content-type"].startswith("application/problem+json")
    bad = await client.post(f"/v1/insights/{insight.id}/act", json={"action": 7},
                            headers=owner.headers)
    assert bad.status_code == 422 and "suggested action" in bad.json()["detail"]
    assert await rows(sessions, owner, TodoHqTask) == []
    assert (await mine.insight(insight.fingerprint)).status == InsightStatus.PENDING

    response = await client.post(f"/v1/insights/{insight.id}/act", json={"action": 0},
                                 headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["tool"] == "create_task" and body["status"] == "success"
    assert body["insight"]["status"] == "acted"
    tasks = await rows(sessions, owner, TodoHqTask)
    assert [t.title for t in tasks] == ["Follow up on Globex renewal"]
    assert str(tasks[0].id) in str(body["result"])


async def test_acting_on_a_risky_suggestion_waits_for_approval_then_runs_once(
    client: httpx.AsyncClient, owner: Member, sessions: Sessions, now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    invoice = await invoice_fire(mine)
    await mine.sweep("overdue_invoices")
    insight = await mine.insight(f"overdue_invoices:{invoice.key}")
    assert insight.actions[0]["tool"] == "send_invoice"

    response = await client.post(f"/v1/insights/{insight.id}/act", json={},
                                 headers=owner.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "awaiting_approval" and body["pending_action_id"]
    assert await rows(sessions, owner, OutboundMessage) == []  # not sent before approval

    pending = body["pending_action_id"]
    approved = await client.post(f"/v1/approvals/{pending}/approve", json={},
                                 headers=owner.headers)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "success", approved.text
    again = await client.post(f"/v1/approvals/{pending}/approve", json={},
                              headers=owner.headers)
    assert again.status_code == 409
    sent = await rows(sessions, owner, OutboundMessage)
    assert len(sent) == 1 and "INV-1001" in (sent[0].subject or "") + sent[0].body


# -- preferences ------------------------------------------------------------------------------
async def test_changing_a_preference_changes_the_next_system_prompt(
    client: httpx.AsyncClient, owner: Member, server: ModelServer,
) -> None:
    conversation = await new_chat(client, owner)
    server.script(ToolCalls([Call("set_preference", {"verbosity": "brief"})]),
                  Text("From now on I'll keep it short."), Text("Short."), Text("Court."))
    await say(client, owner, conversation, "Be more concise from now on")
    assert "Length: normal" in system_prompt(server, 0)
    await say(client, owner, conversation, "How many deals do I have?")
    assert "Length: brief" in system_prompt(server)
    prefs = (await client.get("/v1/preferences", headers=owner.headers)).json()
    assert prefs["verbosity"] == "brief"

    put = await client.put("/v1/preferences", headers=owner.headers,
                           json={**{k: prefs[k] for k in ("tone", "verbosity", "timezone")},
                                 "language": "fr"})
    assert put.status_code == 200, put.text
    await say(client, owner, conversation, "Et maintenant ?")
    latest = system_prompt(server)
    assert "Language: fr" in latest and "Length: brief" in latest


async def test_a_bad_preference_from_chat_is_a_clear_tool_error(
    client: httpx.AsyncClient, owner: Member, server: ModelServer,
) -> None:
    conversation = await new_chat(client, owner)
    server.script(ToolCalls([Call("set_preference", {"timezone": "Mars/Olympus"})]),
                  Text("That time zone does not exist."))
    result = await say(client, owner, conversation, "I'm on Mars time now")
    finished = [e for e in result["events"] if e["type"] == "tool.finished"]
    assert finished[0]["status"] == "error" and "Mars/Olympus" in finished[0]["error"]
    prefs = (await client.get("/v1/preferences", headers=owner.headers)).json()
    assert prefs["timezone"] == "UTC"


async def test_a_shortcut_sends_its_stored_request(
    client: httpx.AsyncClient, owner: Member, server: ModelServer, sessions: Sessions,
) -> None:
    put = await client.put("/v1/preferences", headers=owner.headers, json={"shortcuts": [
        {"name": "/pipeline", "expands_to": "Show my open deals by stage"}]})
    assert put.status_code == 200, put.text
    conversation = await new_chat(client, owner)
    server.script(Text("Here they are."), Text("Unknown command."))
    await say(client, owner, conversation, "/pipeline")
    assert server.requests[-1].messages[-1]["content"] == "Show my open deals by stage"
    await say(client, owner, conversation, "/nothing-stored")
    assert server.requests[-1].messages[-1]["content"] == "/nothing-stored"
    stored = await rows(sessions, owner, AiMessage, AiMessage.role == "user")
    shortcut_rows = [m for m in stored if m.meta.get("shortcut") == "/pipeline"]
    assert [m.content for m in shortcut_rows] == ["Show my open deals by stage"]


# -- memory -----------------------------------------------------------------------------------
async def test_a_remembered_fact_is_recalled_later_and_gone_after_forget(
    client: httpx.AsyncClient, owner: Member, other: Member, server: ModelServer,
    make_member: MakeMember, sessions: Sessions,
) -> None:
    first = await new_chat(client, owner)
    server.script(ToolCalls([Call("remember_fact", {"fact": FISCAL, "scope": "workspace"})]),
                  Text("Noted."))
    await say(client, owner, first, "Remember that our fiscal year starts in April")
    assert FISCAL not in system_prompt(server)

    later = await new_chat(client, owner)
    server.script(Text("In April."), Text("Done."))
    await say(client, owner, later, "When does our fiscal year begin?")
    assert FISCAL in system_prompt(server)
    await say(client, owner, later, "Create a contact named Bo Diddley")
    assert FISCAL not in system_prompt(server)  # recalled by relevance, not always

    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    server.script(Text("April."), Text("No idea."))
    await say(client, colleague, await new_chat(client, colleague), "When is our fiscal year?")
    assert FISCAL in system_prompt(server)  # a workspace fact is everyone's
    await say(client, other, await new_chat(client, other), "When is our fiscal year?")
    assert FISCAL not in system_prompt(server)  # never another workspace's

    listed = (await client.get("/v1/memory", headers=owner.headers)).json()
    assert [(f["fact"], f["scope"]) for f in listed] == [(FISCAL, "workspace")]
    assert (await client.get("/v1/memory", headers=other.headers)).json() == []
    fact_id = listed[0]["id"]
    assert (await client.delete(f"/v1/memory/{fact_id}", headers=other.headers)).status_code \
        == 404

    server.script(ToolCalls([Call("forget_fact", {"about": "the fiscal year"})]),
                  Text("Forgotten."), Text("I don't know."))
    await say(client, owner, later, "Forget what I told you about the fiscal year")
    assert await rows(sessions, owner, MemoryFact) == []
    await say(client, owner, await new_chat(client, owner), "When does our fiscal year begin?")
    assert FISCAL not in system_prompt(server)


async def test_a_personal_fact_is_only_its_owners(
    client: httpx.AsyncClient, owner: Member, server: ModelServer, make_member: MakeMember,
) -> None:
    server.script(ToolCalls([Call("remember_fact", {"fact": "I prefer meetings before noon"})]),
                  Text("Noted."), Text("Mornings."), Text("No preference known."))
    await say(client, owner, await new_chat(client, owner), "Remember I like morning meetings")
    await say(client, owner, await new_chat(client, owner), "When do I like my meetings?")
    assert "I prefer meetings before noon" in system_prompt(server)
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    await say(client, colleague, await new_chat(client, colleague), "When do I like meetings?")
    assert "meetings before noon" not in system_prompt(server)
    facts = (await client.get("/v1/memory", headers=colleague.headers)).json()
    assert facts == []
    mine = (await client.get("/v1/memory", headers=owner.headers)).json()
    deleted = await client.delete(f"/v1/memory/{mine[0]['id']}", headers=colleague.headers)
    assert deleted.status_code == 404  # another member's own fact is not theirs to see
    deleted = await client.delete(f"/v1/memory/{mine[0]['id']}", headers=owner.headers)
    assert deleted.status_code == 204
    assert (await client.get("/v1/memory", headers=owner.headers)).json() == []
    missing = await client.delete(f"/v1/memory/{uuid.uuid4()}", headers=owner.headers)
    assert missing.status_code == 404


async def test_the_workspace_profile_feeds_the_system_prompt(
    client: httpx.AsyncClient, owner: Member, other: Member, server: ModelServer,
    sessions: Sessions,
) -> None:
    async with scoped_session(sessions, owner.ws.scope) as session:
        session.add(WorkspaceIntelligence(
            workspace_id=owner.ws.workspace_id, company_profile={"industry": "Robotics"},
            products=[{"name": "Arm-7"}, "Gripper kit"], brand_voice="Warm and plain"))
    server.script(Text("Hi."), Text("Hello."))
    await say(client, owner, await new_chat(client, owner), "Write a tagline")
    system = system_prompt(server)
    assert "Industry: Robotics" in system and "Products: Arm-7, Gripper kit" in system
    assert "Brand voice: Warm and plain" in system
    await say(client, other, await new_chat(client, other), "Write a tagline")
    assert "Robotics" not in system_prompt(server)


async def test_the_profile_is_set_by_admins_over_rest(
    client: httpx.AsyncClient, owner: Member, other: Member, server: ModelServer,
    make_member: MakeMember,
) -> None:
    empty = (await client.get("/v1/workspace/profile", headers=owner.headers)).json()
    assert empty == {"company_profile": {}, "products": [], "brand_voice": "",
                     "updated_at": None}
    body = {"company_profile": {"industry": "Robotics", "fiscal_year_start": "April"},
            "products": [{"name": "Arm-7", "description": "A seven-axis arm"}],
            "brand_voice": "Warm and plain"}
    member = await make_member(owner.ws, MemberRole.MEMBER)
    refused = await client.put("/v1/workspace/profile", json=body, headers=member.headers)
    assert refused.status_code == 403
    for bad in ({**body, "unknown": 1}, {**body, "brand_voice": "x" * 2001},
                {**body, "company_profile": {"notes": "y" * 9000}}):
        response = await client.put("/v1/workspace/profile", json=bad, headers=owner.headers)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/workspace/profile", headers=owner.headers)).json() == empty

    stored = await client.put("/v1/workspace/profile", json=body, headers=owner.headers)
    assert stored.status_code == 200, stored.text
    seen = (await client.get("/v1/workspace/profile", headers=member.headers)).json()
    assert seen["products"] == body["products"] and seen["brand_voice"] == "Warm and plain"
    assert (await client.get("/v1/workspace/profile", headers=other.headers)).json() == empty

    server.script(Text("Hi."))
    await say(client, member, await new_chat(client, member), "Draft a product blurb")
    system = system_prompt(server)
    assert "Fiscal year start: April" in system and "Products: Arm-7" in system


async def test_searches_become_recent_searches(
    client: httpx.AsyncClient, owner: Member, server: ModelServer,
) -> None:
    server.script(ToolCalls([Call("search_contacts", {"query": "Globex  buyers"}),
                             Call("search_deals", {"query": "renewal"})]),
                  Text("Nothing found."), ToolCalls([Call("search_contacts", {"query": "Ada"})]),
                  Text("Nothing either."))
    conversation = await new_chat(client, owner)
    await say(client, owner, conversation, "Find the Globex buyers and renewal deals")
    await say(client, owner, conversation, "And Ada?")
    prefs = (await client.get("/v1/preferences", headers=owner.headers)).json()
    assert prefs["recent_searches"] == ["Ada", "renewal", "Globex buyers"]
    assert "Recent searches" not in system_prompt(server, 0)

    del prefs["updated_at"]  # what the server says, not part of the document a client puts
    put = await client.put("/v1/preferences", headers=owner.headers,
                           json={**prefs, "favorite_agents": ["Lead scorer", "Invoice chaser"]})
    assert put.status_code == 200, put.text
    server.script(Text("Sure."))
    await say(client, owner, conversation, "Run my agent")
    system = system_prompt(server)
    assert "Recent searches: Ada; renewal; Globex buyers" in system
    assert "Favourite agents: Lead scorer, Invoice chaser" in system


async def test_a_viewer_cannot_act_on_or_forget(
    client: httpx.AsyncClient, owner: Member, make_member: MakeMember, sessions: Sessions,
    now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    deal = await stalled_fire(mine)
    await mine.sweep("stalled_deals")
    insight = await mine.insight(f"stalled_deals:{deal.key}")
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    response = await client.post(f"/v1/insights/{insight.id}/act", json={},
                                 headers=viewer.headers)
    assert response.status_code == 403
    assert await rows(sessions, owner, TodoHqTask) == []
    dismissed = await client.post(f"/v1/insights/{insight.id}/dismiss", headers=viewer.headers)
    assert dismissed.status_code == 403  # a workspace-wide insight is everyone's
    assert (await mine.insight(insight.fingerprint)).status == InsightStatus.PENDING


async def test_rest_lists_insights_by_record_and_never_another_workspaces(
    client: httpx.AsyncClient, owner: Member, other: Member, sessions: Sessions, now: datetime,
) -> None:
    mine, theirs = Seed(sessions, owner.ws, now), Seed(sessions, other.ws, now)
    deal = await stalled_fire(mine)
    await past_close_fire(mine)
    foreign = await stalled_fire(theirs)
    await mine.sweep()
    await theirs.sweep()
    listed = (await client.get("/v1/insights", headers=owner.headers)).json()
    assert len(listed) == 2
    about = (await client.get("/v1/insights", headers=owner.headers, params={
        "record_type": "deal", "record_id": str(deal.record_id)})).json()
    assert [(i["record_id"], i["title"]) for i in about] == [
        (str(deal.record_id), "Globex renewal is stalled in negotiation")]
    crossed = (await client.get("/v1/insights", headers=owner.headers, params={
        "record_type": "deal", "record_id": str(foreign.record_id)})).json()
    assert crossed == []
    bad = await client.get("/v1/insights", headers=owner.headers, params={"record_id": "x"})
    assert bad.status_code == 422
    foreign_insight = (await theirs.insights("stalled_deals"))[0]
    for path in (f"/v1/insights/{foreign_insight.id}/dismiss",
                 f"/v1/insights/{foreign_insight.id}/act"):
        response = await client.post(path, json={}, headers=owner.headers)
        assert response.status_code == 404, path
    assert (await theirs.insight(foreign_insight.fingerprint)).status == InsightStatus.PENDING


async def test_acting_again_with_the_same_idempotency_key_acts_once(
    client: httpx.AsyncClient, owner: Member, sessions: Sessions, now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    deal = await stalled_fire(mine)
    await mine.sweep("stalled_deals")
    insight = await mine.insight(f"stalled_deals:{deal.key}")
    path, retry = f"/v1/insights/{insight.id}/act", {**owner.headers, "Idempotency-Key": "k-1"}
    first = await client.post(path, json={}, headers=retry)
    again = await client.post(path, json={}, headers=retry)
    assert first.status_code == again.status_code == 200, again.text
    assert first.json()["result"] == again.json()["result"]
    assert len(await rows(sessions, owner, TodoHqTask)) == 1
    other_key = await client.post(path, json={}, headers={**owner.headers,
                                                           "Idempotency-Key": "k-2"})
    assert other_key.status_code == 200
    assert len(await rows(sessions, owner, TodoHqTask)) == 2  # a new key is a new request


async def test_acting_in_chat_waits_for_approval_and_the_conversation_continues(
    client: httpx.AsyncClient, owner: Member, server: ModelServer, sessions: Sessions,
    now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    invoice = await invoice_fire(mine)
    await mine.sweep("overdue_invoices")
    insight = await mine.insight(f"overdue_invoices:{invoice.key}")
    conversation = await new_chat(client, owner)
    server.script(ToolCalls([Call("act_on_insight", {"insight_id": str(insight.id)})]),
                  Text("The reminder waits for your approval."), Text("Reminder sent."))
    result = await say(client, owner, conversation, "Send them the reminder it suggests")
    finished = [e for e in result["events"] if e["type"] == "tool.finished"]
    assert finished[0]["status"] == "success"
    assert finished[0]["result"]["status"] == "awaiting_approval"
    pending = finished[0]["result"]["pending_action_id"]
    assert await rows(sessions, owner, OutboundMessage) == []

    approved = await client.post(f"/v1/approvals/{pending}/approve", json={},
                                 headers=owner.headers)
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["kind"] == "chat" and body["status"] == "success", body
    assert body["turn"]["text"] == "Reminder sent."
    assert len(await rows(sessions, owner, OutboundMessage)) == 1
    assert (await mine.insight(insight.fingerprint)).status == InsightStatus.ACTED


async def test_the_pages_kind_of_insight_comes_first(
    client: httpx.AsyncClient, owner: Member, server: ModelServer, sessions: Sessions,
    now: datetime,
) -> None:
    mine = Seed(sessions, owner.ws, now)
    for _ in range(4):  # four deal insights, each more important than the invoice's
        await stalled_fire(mine)
    invoice = await invoice_fire(mine)
    await mine.sweep("stalled_deals", "overdue_invoices")
    about_invoice = await mine.insight(f"overdue_invoices:{invoice.key}")
    server.script(Text("Here."), Text("There."))
    await say(client, owner, await new_chat(client, owner), "Anything to chase?",
              {"page": "finance/invoices"})
    system = system_prompt(server)
    assert f"[{about_invoice.id}]" in system
    assert system.count("is stalled in negotiation") <= 2  # three at most, invoices first
