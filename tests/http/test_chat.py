"""Conversations and messages over REST: JSON and SSE answers, idempotent retries, resuming
from a seq, and the errors a client can cause."""

from __future__ import annotations

import json
import uuid

import httpx
import sqlalchemy as sa

from store.db import Database
from store.models.ai import AiMessage
from store.tenancy import scoped_session
from tests.http.conftest import Member, new_chat
from tests.model_server import Call, ModelServer, Text, ToolCalls

PROBLEM = "application/problem+json"


async def message_count(database: Database, member: Member, conversation_id: str) -> int:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        count = await session.scalar(sa.select(sa.func.count()).select_from(AiMessage).where(
            AiMessage.conversation_id == uuid.UUID(conversation_id)))
    return int(count or 0)


def sse_events(body: str) -> list[tuple[str, dict[str, object]]]:
    frames = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if "event" in lines:
            frames.append((lines["event"], json.loads(lines["data"])))
    return frames


async def test_conversation_crud(client: httpx.AsyncClient, owner: Member) -> None:
    conversation_id = await new_chat(client, owner, "Pipeline review")
    listed = (await client.get("/v1/conversations", headers=owner.headers)).json()
    assert [c["id"] for c in listed["items"]] == [conversation_id]
    patched = await client.patch(f"/v1/conversations/{conversation_id}",
                                 json={"title": "Q3 pipeline", "pinned": True},
                                 headers=owner.headers)
    assert patched.json()["title"] == "Q3 pipeline" and patched.json()["pinned"] is True
    archived = await client.patch(f"/v1/conversations/{conversation_id}",
                                  json={"archived": True}, headers=owner.headers)
    assert archived.json()["archived"] is True
    live = (await client.get("/v1/conversations", headers=owner.headers)).json()
    assert live["items"] == []
    gone = await client.delete(f"/v1/conversations/{conversation_id}", headers=owner.headers)
    assert gone.status_code == 204
    missing = await client.get(f"/v1/conversations/{conversation_id}", headers=owner.headers)
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_post_message_json(client: httpx.AsyncClient, owner: Member, server: ModelServer,
                                 database: Database) -> None:
    conversation_id = await new_chat(client, owner)
    server.script(Text("Your pipeline holds 3 deals."))
    response = await client.post(f"/v1/conversations/{conversation_id}/messages",
                                 json={"text": "How is my pipeline?",
                                       "page": {"page": "crm/deals"}}, headers=owner.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["status"] == "complete" and result["text"] == "Your pipeline holds 3 deals."
    types = [e["type"] for e in result["events"]]
    assert types[0] == "message.created" and types[-2:] == ["message.completed", "turn.completed"]
    assert "text.delta" in types
    detail = (await client.get(f"/v1/conversations/{conversation_id}",
                               headers=owner.headers)).json()
    assert [m["role"] for m in detail["messages"]] == ["user", "assistant"]
    events = (await client.get(f"/v1/conversations/{conversation_id}/events",
                               params={"after": result["first_seq"]},
                               headers=owner.headers)).json()
    assert [e["seq"] for e in events["events"]] == [e["seq"] for e in result["events"][1:]]


async def test_post_message_streams_sse(client: httpx.AsyncClient, owner: Member,
                                        server: ModelServer) -> None:
    conversation_id = await new_chat(client, owner)
    server.script(ToolCalls([Call("list_deals", {})]), Text("Nothing open yet.", chunks=4))
    response = await client.post(f"/v1/conversations/{conversation_id}/messages",
                                 json={"text": "show my deals"},
                                 headers={**owner.headers, "Accept": "text/event-stream"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    frames = sse_events(response.text)
    kinds = [kind for kind, _ in frames]
    assert kinds[0] == "message.created" and kinds[-1] == "done"
    assert "tool.started" in kinds and "tool.finished" in kinds
    text = "".join(str(data["text"]) for kind, data in frames if kind == "text.delta")
    assert text == "Nothing open yet."
    assert frames[-1][1]["status"] == "complete"


async def test_idempotency_key_returns_the_first_answer(
        client: httpx.AsyncClient, owner: Member, server: ModelServer,
        database: Database) -> None:
    conversation_id = await new_chat(client, owner)
    server.script(Text("First answer."))
    url = f"/v1/conversations/{conversation_id}/messages"
    headers = {**owner.headers, "Idempotency-Key": "req-1"}
    first = await client.post(url, json={"text": "hello"}, headers=headers)
    again = await client.post(url, json={"text": "hello"}, headers=headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    streamed = await client.post(url, json={"text": "hello"},
                                 headers={**headers, "Accept": "text/event-stream"})
    assert sse_events(streamed.text)[-1][1]["turn_id"] == first.json()["turn_id"]
    assert len(server.requests) == 1
    assert await message_count(database, owner, conversation_id) == 2
    reused = await client.post(url, json={"text": "something else"}, headers=headers)
    assert reused.status_code == 422 and reused.headers["content-type"] == PROBLEM
    assert await message_count(database, owner, conversation_id) == 2


async def test_another_workspace_conversation_is_not_found(
        client: httpx.AsyncClient, owner: Member, other: Member, database: Database) -> None:
    theirs = await new_chat(client, other)
    for method, path, body in (
            ("GET", f"/v1/conversations/{theirs}", None),
            ("GET", f"/v1/conversations/{theirs}/events", None),
            ("PATCH", f"/v1/conversations/{theirs}", {"title": "mine now"}),
            ("DELETE", f"/v1/conversations/{theirs}", None),
            ("POST", f"/v1/conversations/{theirs}/messages", {"text": "hi"})):
        fake = str(uuid.uuid4())
        response = await client.request(method, path, json=body, headers=owner.headers)
        unknown = await client.request(method, path.replace(theirs, fake), json=body,
                                       headers=owner.headers)
        assert response.status_code == unknown.status_code == 404, (method, path)
        assert response.json()["detail"].replace(theirs, "X") == \
            unknown.json()["detail"].replace(fake, "X")
    assert await message_count(database, other, theirs) == 0


async def test_bad_requests_are_problems_and_store_nothing(
        client: httpx.AsyncClient, owner: Member, database: Database) -> None:
    conversation_id = await new_chat(client, owner)
    url = f"/v1/conversations/{conversation_id}/messages"
    cases = [
        (client.post(url, content=b"{not json", headers={**owner.headers,
                                                         "Content-Type": "application/json"}),
         422),
        (client.post(url, json={"text": ""}, headers=owner.headers), 422),
        (client.post(url, content=b"\xff\xfe{", headers={**owner.headers,
                                                        "Content-Type": "application/json"}),
         400),
        (client.post("/v1/chat/completions", content=b"\xff\xfe{", headers={
            **owner.headers, "Content-Type": "application/json"}), 400),
        (client.post(url, json={"text": "hi", "extra": 1}, headers=owner.headers), 422),
        (client.post(url, content=b"text=hi", headers={
            **owner.headers, "Content-Type": "application/x-www-form-urlencoded"}), 422),
        (client.post(url, json={"text": "x" * 300_000}, headers=owner.headers), 413),
        (client.get("/v1/conversations/not-a-uuid", headers=owner.headers), 422),
    ]
    for request, status in cases:
        response = await request
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == status
    assert await message_count(database, owner, conversation_id) == 0


async def test_nul_characters_are_a_clear_422(client: httpx.AsyncClient, owner: Member) -> None:
    response = await client.post("/v1/conversations", json={"title": "bad\u0000title"},
                                 headers=owner.headers)
    assert response.status_code == 422 and "NUL" in response.json()["detail"]
    listed = (await client.get("/v1/conversations", headers=owner.headers)).json()
    assert listed["items"] == []
