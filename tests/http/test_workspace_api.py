"""The workspace routes over REST: the caller's tool catalogue, insights, preferences, feedback
on answers and usage; each with bad input, another workspace's ids, and role/scope checks."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from assistant.http.app import Services
from store.access_keys import AccessKeys
from store.db import Database
from store.models.ai import (
    AiMessageFeedback,
    AiUserPreferences,
    InsightType,
    ProactiveInsight,
)
from store.models.core import MemberRole, SubscriptionTier, Workspace
from store.models.neptune import UsageLedger
from store.repositories.ai import InsightRepository
from store.repositories.neptune import AutonomyRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, MakeServices, Member, new_chat
from tests.model_server import ModelServer, Text

PROBLEM = "application/problem+json"


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    """Generous rate limits: these tests send many requests per workspace in one burst."""
    return make_services(user_rate_limit=100_000,
                         rate_limits=dict.fromkeys(SubscriptionTier, 100_000))


async def key_headers(database: Database, member: Member, *scopes: str) -> dict[str, str]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        issued = await AccessKeys(session, member.ws.scope).create(member.user_id, "test",
                                                                   scopes)
    return {"Authorization": f"Bearer {issued.token}"}


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def assert_same_404(client: httpx.AsyncClient, method: str, path: str, theirs: str,
                          headers: dict[str, str], body: Any = None) -> None:
    """Another workspace's (or member's) id answers exactly like an id that does not exist."""
    fake = str(uuid.uuid4())
    response = await client.request(method, path, json=body, headers=headers)
    unknown = await client.request(method, path.replace(theirs, fake), json=body,
                                   headers=headers)
    assert_problem(response, 404)
    assert_problem(unknown, 404)
    assert response.json() == unknown.json()


async def set_workspace_settings(database: Database, member: Member,
                                 settings: dict[str, Any]) -> None:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        row = await session.get(Workspace, member.ws.workspace_id)
        assert row is not None
        row.settings = settings


# -- tools ------------------------------------------------------------------------------------


async def test_tool_catalogue_is_what_the_model_is_offered(
        client: httpx.AsyncClient, owner: Member, server: ModelServer) -> None:
    response = await client.get("/v1/tools", headers=owner.headers)
    assert response.status_code == 200, response.text
    tools = {t["name"]: t for t in response.json()}
    conversation_id = await new_chat(client, owner)
    server.script(Text("ok"))
    sent = await client.post(f"/v1/conversations/{conversation_id}/messages",
                             json={"text": "hi"}, headers=owner.headers)
    assert sent.status_code == 200, sent.text
    assert set(server.requests[-1].tool_names) == set(tools)
    deletion = tools["delete_contact"]
    assert deletion["risk"] == "critical" and deletion["needs_approval"] is True
    assert deletion["approval_reasons"] and deletion["domain"] == "crm"
    listing = tools["search_deals"]
    assert listing["needs_approval"] is False and listing["approval_reasons"] == []
    assert listing["title"] == "Search deals" and listing["description"]
    assert listing["parameters"]["type"] == "object" and "properties" in listing["parameters"]


async def test_tool_catalogue_follows_role_policy_and_autonomy(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember,
        database: Database) -> None:
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    seen = {t["name"] for t in (await client.get("/v1/tools", headers=viewer.headers)).json()}
    assert "search_deals" in seen and "create_contact" not in seen and "delete_contact" not in seen
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        autonomy = AutonomyRepository(session, owner.ws.scope)
        for _ in range(8):
            await autonomy.record_approval(owner.user_id, "create_contact")
        await autonomy.enable_auto_execute(owner.user_id, "create_contact")
    await set_workspace_settings(database, owner, {"tool_policies": {
        "search_deals": {"require_approval": True}, "delete_deal": {"disabled": True}}})
    tools = {t["name"]: t for t in (await client.get("/v1/tools", headers=owner.headers)).json()}
    assert "delete_deal" not in tools
    assert tools["search_deals"]["needs_approval"] is True
    assert tools["create_contact"]["risk"] == "medium"
    assert tools["create_contact"]["needs_approval"] is False
    assert tools["update_contact"]["needs_approval"] is True
    knowledge = (await client.get("/v1/tools", params={"domain": "knowledge"},
                                  headers=owner.headers)).json()
    assert knowledge and {t["domain"] for t in knowledge} == {"knowledge"}
    assert "search_knowledge" in {t["name"] for t in knowledge}
    assert_problem(await client.get("/v1/tools", params={"domain": "x" * 41},
                                    headers=owner.headers), 422)


async def test_tool_catalogue_needs_a_credential(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/v1/tools"), 401)


# -- insights ---------------------------------------------------------------------------------


async def add_insight(database: Database, member: Member, title: str, *,
                      user_id: uuid.UUID | None, priority: int = 50) -> uuid.UUID:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        row = await InsightRepository(session, member.ws.scope).upsert(
            f"test:{uuid.uuid4()}", detector="test", type=InsightType.WARNING, title=title,
            user_id=user_id, priority=priority, data={"n": 1})
    return row.id


async def insight_status(database: Database, member: Member, insight_id: uuid.UUID) -> str:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        status = await session.scalar(sa.select(ProactiveInsight.status).where(
            ProactiveInsight.id == insight_id))
    return str(status)


async def test_insights_list_the_callers_and_workspace_wide_ones(
        client: httpx.AsyncClient, owner: Member, other: Member, make_member: MakeMember,
        database: Database) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    mine = await add_insight(database, owner, "Acme is stalled", user_id=owner.user_id,
                             priority=90)
    shared = await add_insight(database, owner, "Invoices overdue", user_id=None, priority=40)
    await add_insight(database, owner, "Colleague's deal", user_id=colleague.user_id)
    await add_insight(database, other, "Other workspace", user_id=None)
    listed = await client.get("/v1/insights", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    assert [(i["id"], i["workspace_wide"]) for i in listed.json()] == [
        (str(mine), False), (str(shared), True)]
    theirs = (await client.get("/v1/insights", headers=colleague.headers)).json()
    assert {i["title"] for i in theirs} == {"Colleague's deal", "Invoices overdue"}
    limited = await client.get("/v1/insights", params={"limit": 1}, headers=owner.headers)
    assert [i["id"] for i in limited.json()] == [str(mine)]
    for params in ({"status": "bogus"}, {"limit": 0}, {"limit": 201}):
        assert_problem(await client.get("/v1/insights", params=params,
                                        headers=owner.headers), 422)


async def test_dismissing_an_insight(client: httpx.AsyncClient, owner: Member, other: Member,
                                     make_member: MakeMember, database: Database) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    mine = await add_insight(database, owner, "Acme is stalled", user_id=owner.user_id)
    dismissed = await client.post(f"/v1/insights/{mine}/dismiss", headers=owner.headers)
    assert dismissed.status_code == 200, dismissed.text
    assert dismissed.json()["status"] == "dismissed" and dismissed.json()["dismissed_at"]
    assert await insight_status(database, owner, mine) == "dismissed"
    assert (await client.get("/v1/insights", headers=owner.headers)).json() == []
    everything = await client.get("/v1/insights", params={"status": "dismissed"},
                                  headers=owner.headers)
    assert [i["id"] for i in everything.json()] == [str(mine)]
    theirs = await add_insight(database, owner, "Colleague's", user_id=colleague.user_id)
    elsewhere = await add_insight(database, other, "Other workspace", user_id=None)
    for insight_id in (theirs, elsewhere):
        await assert_same_404(client, "POST", f"/v1/insights/{insight_id}/dismiss",
                              str(insight_id), owner.headers)
    assert await insight_status(database, owner, theirs) == "pending"
    assert await insight_status(database, other, elsewhere) == "pending"
    assert_problem(await client.post("/v1/insights/not-a-uuid/dismiss",
                                     headers=owner.headers), 422)


async def test_a_read_key_lists_insights_but_cannot_dismiss(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    shared = await add_insight(database, owner, "Invoices overdue", user_id=None)
    headers = await key_headers(database, owner, "read")
    assert (await client.get("/v1/insights", headers=headers)).status_code == 200
    assert_problem(await client.post(f"/v1/insights/{shared}/dismiss", headers=headers), 403)
    assert await insight_status(database, owner, shared) == "pending"


# -- preferences ------------------------------------------------------------------------------

PREFERENCES = {
    "tone": "friendly", "verbosity": "brief", "language": "pt-BR",
    "timezone": "Europe/Paris",
    "shortcuts": [{"name": "/pipeline", "expands_to": "Show my open pipeline by stage"}],
    "favorite_agents": ["Renewals watcher"], "recent_searches": ["refund policy"],
}


async def preference_rows(database: Database, member: Member) -> list[AiUserPreferences]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        rows = await session.scalars(sa.select(AiUserPreferences).where(
            AiUserPreferences.user_id == member.user_id))
        return list(rows)


async def test_preferences_default_then_stored_for_the_runtime(
        client: httpx.AsyncClient, owner: Member, server: ModelServer,
        database: Database) -> None:
    defaults = await client.get("/v1/preferences", headers=owner.headers)
    assert defaults.status_code == 200, defaults.text
    assert defaults.json() == {"tone": "neutral", "verbosity": "normal", "language": "en",
                               "timezone": "UTC", "shortcuts": [], "favorite_agents": [],
                               "recent_searches": [], "updated_at": None}
    assert await preference_rows(database, owner) == []
    stored = await client.put("/v1/preferences", json=PREFERENCES, headers=owner.headers)
    assert stored.status_code == 200, stored.text
    assert {k: v for k, v in stored.json().items() if k != "updated_at"} == PREFERENCES
    assert (await client.get("/v1/preferences", headers=owner.headers)).json() == stored.json()
    [row] = await preference_rows(database, owner)
    assert row.preferences == {"tone": "friendly", "verbosity": "brief", "language": "pt-BR",
                               "timezone": "Europe/Paris"}
    assert row.shortcuts == [{"command": "/pipeline",
                              "expansion": "Show my open pipeline by stage"}]
    conversation_id = await new_chat(client, owner)
    server.script(Text("Olá"))
    await client.post(f"/v1/conversations/{conversation_id}/messages", json={"text": "oi"},
                      headers=owner.headers)
    system = server.requests[-1].messages[0]["content"]
    assert "Tone: friendly" in system and "Length: brief" in system and "pt-BR" in system


async def test_put_replaces_the_whole_document(client: httpx.AsyncClient, owner: Member,
                                               database: Database) -> None:
    await client.put("/v1/preferences", json=PREFERENCES, headers=owner.headers)
    again = await client.put("/v1/preferences", json={"tone": "formal"}, headers=owner.headers)
    assert again.status_code == 200, again.text
    assert again.json()["tone"] == "formal" and again.json()["shortcuts"] == []
    assert again.json()["timezone"] == "UTC"
    assert len(await preference_rows(database, owner)) == 1


@pytest.mark.parametrize("body", [
    {"timezone": "Mars/Olympus"},
    {"timezone": "../../etc/passwd"},
    {"tone": "sarcastic"},
    {"language": "English"},
    {"colour": "blue"},
    {"shortcuts": [{"name": "pipeline", "expands_to": "x"}]},
    {"shortcuts": [{"name": "/p", "expands_to": "x"}, {"name": "/p", "expands_to": "y"}]},
    {"shortcuts": [{"name": "/p", "expands_to": "x", "extra": 1}]},
    {"shortcuts": [{"name": "/p", "expands_to": "x" * 2001}]},
    {"favorite_agents": [f"agent {n}" for n in range(21)]},
    {"recent_searches": ["x" * 201]},
    {"favorite_agents": [""]},
])
async def test_bad_preferences_are_refused_and_change_nothing(
        client: httpx.AsyncClient, owner: Member, database: Database,
        body: dict[str, Any]) -> None:
    first = await client.put("/v1/preferences", json=PREFERENCES, headers=owner.headers)
    response = await client.put("/v1/preferences", json=body, headers=owner.headers)
    assert_problem(response, 422)
    assert (await client.get("/v1/preferences", headers=owner.headers)).json() == first.json()


async def test_preferences_are_each_members_own(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember,
        database: Database) -> None:
    await client.put("/v1/preferences", json=PREFERENCES, headers=owner.headers)
    viewer = await make_member(owner.ws, MemberRole.VIEWER)
    assert (await client.get("/v1/preferences", headers=viewer.headers)).json()["tone"] == \
        "neutral"
    read_key = await key_headers(database, owner, "read")
    assert (await client.get("/v1/preferences", headers=read_key)).json()["tone"] == "friendly"
    assert_problem(await client.put("/v1/preferences", json={"tone": "casual"},
                                    headers=read_key), 403)
    [row] = await preference_rows(database, owner)
    assert row.preferences["tone"] == "friendly"


# -- feedback ---------------------------------------------------------------------------------


async def answered_chat(client: httpx.AsyncClient, member: Member,
                        server: ModelServer) -> tuple[str, str]:
    """(user message id, assistant message id) of a one-turn conversation."""
    conversation_id = await new_chat(client, member)
    server.script(Text("Three deals are open."))
    sent = await client.post(f"/v1/conversations/{conversation_id}/messages",
                             json={"text": "pipeline?"}, headers=member.headers)
    assert sent.status_code == 200, sent.text
    detail = (await client.get(f"/v1/conversations/{conversation_id}",
                               headers=member.headers)).json()
    ids = {m["role"]: m["id"] for m in detail["messages"]}
    return ids["user"], ids["assistant"]


async def feedback_rows(database: Database, member: Member) -> list[tuple[str, str | None]]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        rows = await session.execute(sa.select(AiMessageFeedback.rating,
                                               AiMessageFeedback.comment))
        return [(str(r), c) for r, c in rows]


async def test_rating_an_answer_twice_keeps_one_rating(
        client: httpx.AsyncClient, owner: Member, server: ModelServer,
        database: Database) -> None:
    question, answer = await answered_chat(client, owner, server)
    url = f"/v1/messages/{answer}/feedback"
    up = await client.post(url, json={"rating": "up"}, headers=owner.headers)
    assert up.status_code == 200, up.text
    assert up.json()["rating"] == "up" and up.json()["message_id"] == answer
    down = await client.post(url, json={"rating": "down", "comment": "wrong count"},
                             headers=owner.headers)
    assert down.status_code == 200 and down.json()["comment"] == "wrong count"
    assert await feedback_rows(database, owner) == [("down", "wrong count")]
    for body in ({"rating": "meh"}, {"rating": "up", "extra": 1}, {},
                 {"rating": "up", "comment": "x" * 2001}):
        assert_problem(await client.post(url, json=body, headers=owner.headers), 422)
    assert_problem(await client.post(f"/v1/messages/{question}/feedback",
                                     json={"rating": "up"}, headers=owner.headers), 422)
    assert await feedback_rows(database, owner) == [("down", "wrong count")]


async def test_rating_someone_elses_answer_is_not_found(
        client: httpx.AsyncClient, owner: Member, other: Member, make_member: MakeMember,
        server: ModelServer, database: Database) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    _, colleagues = await answered_chat(client, colleague, server)
    _, elsewhere = await answered_chat(client, other, server)
    for answer in (colleagues, elsewhere):
        await assert_same_404(client, "POST", f"/v1/messages/{answer}/feedback", answer,
                              owner.headers, {"rating": "down"})
    assert await feedback_rows(database, owner) == []
    assert await feedback_rows(database, other) == []


async def test_a_read_key_cannot_rate(client: httpx.AsyncClient, owner: Member,
                                      server: ModelServer, database: Database) -> None:
    _, answer = await answered_chat(client, owner, server)
    headers = await key_headers(database, owner, "read")
    assert_problem(await client.post(f"/v1/messages/{answer}/feedback",
                                     json={"rating": "up"}, headers=headers), 403)
    assert await feedback_rows(database, owner) == []


# -- usage ------------------------------------------------------------------------------------


async def add_usage(database: Database, member: Member, model: str, prompt: int,
                    completion: int, cost: int, *, days_ago: int = 0) -> None:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    async with scoped_session(database.sessions, member.ws.scope) as session:
        session.add(UsageLedger(workspace_id=member.ws.workspace_id, user_id=member.user_id,
                                model=model, prompt_tokens=prompt, completion_tokens=completion,
                                cost_usd_micros=cost, created_at=at))


async def test_usage_of_the_caller_and_of_the_workspace(
        client: httpx.AsyncClient, owner: Member, other: Member, make_member: MakeMember,
        database: Database, services: Services) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    await add_usage(database, owner, "gpt-a", 100, 20, 1_000)
    await add_usage(database, owner, "gpt-b", 50, 5, 500)
    await add_usage(database, owner, "gpt-a", 10, 1, 100, days_ago=2)
    await add_usage(database, owner, "gpt-a", 7_000, 7_000, 9_000, days_ago=40)
    await add_usage(database, colleague, "gpt-a", 1_000, 0, 2_000)
    await add_usage(database, other, "gpt-a", 99_999, 0, 99_999)
    mine = await client.get("/v1/usage", headers=owner.headers)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert body["scope"] == "me"
    assert body["totals"] == {"calls": 3, "prompt_tokens": 160, "completion_tokens": 26,
                              "cached_tokens": 0, "total_tokens": 186, "cost_usd_micros": 1_600}
    assert [(m["model"], m["calls"], m["total_tokens"]) for m in body["by_model"]] == [
        ("gpt-a", 2, 131), ("gpt-b", 1, 55)]
    assert [d["total_tokens"] for d in body["by_day"]] == [11, 175]
    assert body["budget"]["daily_tokens"] == services.deps.settings.budget_for(
        SubscriptionTier.FREE)
    assert body["budget"]["spent_today"] == 175 + 1_000
    assert body["budget"]["remaining_today"] == body["budget"]["daily_tokens"] - 1_175
    assert body["budget"]["spent_this_month"] >= 1_175
    year = (await client.get("/v1/usage", params={"days": 366},
                             headers=owner.headers)).json()
    assert year["totals"]["calls"] == 4
    workspace = (await client.get("/v1/usage", params={"scope": "workspace"},
                                  headers=owner.headers)).json()
    assert workspace["totals"]["calls"] == 4 and workspace["totals"]["prompt_tokens"] == 1_160
    colleagues = (await client.get("/v1/usage", headers=colleague.headers)).json()
    assert colleagues["totals"]["calls"] == 1


async def test_usage_budget_follows_workspace_settings(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    await set_workspace_settings(database, owner, {"daily_token_budget": 1_234})
    await add_usage(database, owner, "gpt-a", 1_000, 500, 0)
    budget = (await client.get("/v1/usage", headers=owner.headers)).json()["budget"]
    assert budget["daily_tokens"] == 1_234 and budget["remaining_today"] == 0


async def test_usage_refuses_bad_input_and_members_asking_for_the_workspace(
        client: httpx.AsyncClient, owner: Member, make_member: MakeMember) -> None:
    for params in ({"days": 0}, {"days": 367}, {"days": "x"}, {"scope": "everyone"}):
        assert_problem(await client.get("/v1/usage", params=params, headers=owner.headers),
                       422)
    for role in (MemberRole.MEMBER, MemberRole.VIEWER):
        member = await make_member(owner.ws, role)
        assert_problem(await client.get("/v1/usage", params={"scope": "workspace"},
                                        headers=member.headers), 403)
        assert (await client.get("/v1/usage", headers=member.headers)).status_code == 200


# -- the OpenAPI document ---------------------------------------------------------------------


async def test_openapi_describes_these_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    paths = document["paths"]
    expected = {
        ("/v1/tools", "get"), ("/v1/insights", "get"), ("/v1/insights/{insight_id}/dismiss",
                                                          "post"),
        ("/v1/preferences", "get"), ("/v1/preferences", "put"),
        ("/v1/messages/{message_id}/feedback", "post"), ("/v1/usage", "get"),
        ("/v1/knowledge/documents", "post"), ("/v1/knowledge/search", "get"),
        ("/v1/provider-keys", "get"), ("/v1/provider-keys", "post"),
        ("/v1/provider-keys/{key_id}", "delete"), ("/v1/access-keys", "get"),
        ("/v1/access-keys", "post"), ("/v1/access-keys/{key_id}", "delete"),
    }
    for path, method in expected:
        operation = paths[path][method]
        assert operation["summary"] and operation["tags"], (path, method)
        assert {"401", "403", "422"} <= set(operation["responses"]), (path, method)
        success = next(r for s, r in operation["responses"].items() if s.startswith("2"))
        if method != "delete" or "access" in path:
            assert success["content"]["application/json"]["schema"], (path, method)
    upload = paths["/v1/knowledge/documents"]["post"]
    assert {"413", "415"} <= set(upload["responses"])
    assert "multipart/form-data" in upload["requestBody"]["content"]
    schemas = document["components"]["schemas"]
    assert "token" in schemas["AccessKeyCreated"]["properties"]
    assert "token" not in schemas["AccessKeyOut"]["properties"]
