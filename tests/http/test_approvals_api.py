"""Approvals over REST: list, approve (JSON and SSE), reject, and who may decide."""

from __future__ import annotations

import uuid

import httpx

from store.db import Database
from store.models.core import MemberRole
from store.models.crm import Contact
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.http.conftest import MakeMember, Member, new_chat
from tests.http.test_chat import sse_events
from tests.model_server import Call, ModelServer, Text, ToolCalls


async def propose_delete(client: httpx.AsyncClient, member: Member, server: ModelServer,
                         database: Database) -> tuple[str, uuid.UUID]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        contact = await ContactRepository(session, member.ws.scope).create(
            first_name="Grace", email="grace@example.com")
    conversation_id = await new_chat(client, member)
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact.id)})]),
                  Text("Deleting Grace needs your approval."))
    result = (await client.post(f"/v1/conversations/{conversation_id}/messages",
                                json={"text": "delete Grace"}, headers=member.headers)).json()
    assert result["status"] == "awaiting_approval", result
    [pending_id] = result["pending_approvals"]
    return pending_id, contact.id


async def contact_exists(database: Database, member: Member, contact_id: uuid.UUID) -> bool:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        return await session.get(Contact, (member.ws.workspace_id, contact_id)) is not None


async def test_list_then_approve_runs_the_action_once(
        client: httpx.AsyncClient, owner: Member, server: ModelServer,
        database: Database) -> None:
    pending_id, contact_id = await propose_delete(client, owner, server, database)
    listed = (await client.get("/v1/approvals", headers=owner.headers)).json()
    assert [a["id"] for a in listed] == [pending_id] and listed[0]["risk"] == "critical"
    server.script(Text("Grace is deleted."))
    decided = await client.post(f"/v1/approvals/{pending_id}/approve", json={"notes": "ok"},
                                headers=owner.headers)
    assert decided.status_code == 200, decided.text
    body = decided.json()
    assert body["kind"] == "chat" and body["status"] == "success"
    assert body["turn"]["text"] == "Grace is deleted."
    assert not await contact_exists(database, owner, contact_id)
    again = await client.post(f"/v1/approvals/{pending_id}/approve", headers=owner.headers)
    assert again.status_code == 409
    assert (await client.get("/v1/approvals", headers=owner.headers)).json() == []


async def test_reject_streams_the_continuation_and_runs_nothing(
        client: httpx.AsyncClient, owner: Member, server: ModelServer,
        database: Database) -> None:
    pending_id, contact_id = await propose_delete(client, owner, server, database)
    server.script(Text("Understood, Grace stays."))
    response = await client.post(f"/v1/approvals/{pending_id}/reject",
                                 headers={**owner.headers, "Accept": "text/event-stream"})
    frames = sse_events(response.text)
    assert frames[0][0] == "approval.resolved" and frames[0][1]["decision"] == "rejected"
    assert frames[-1][0] == "done"
    assert await contact_exists(database, owner, contact_id)


async def test_only_the_requester_or_an_admin_decides(
        client: httpx.AsyncClient, owner: Member, other: Member, make_member: MakeMember,
        server: ModelServer, database: Database) -> None:
    pending_id, contact_id = await propose_delete(client, owner, server, database)
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    refused = await client.post(f"/v1/approvals/{pending_id}/approve",
                                headers=colleague.headers)
    assert refused.status_code == 403
    foreign = await client.post(f"/v1/approvals/{pending_id}/approve", headers=other.headers)
    unknown = await client.post(f"/v1/approvals/{uuid.uuid4()}/approve", headers=other.headers)
    assert foreign.status_code == unknown.status_code == 404
    assert (await client.get("/v1/approvals", headers=colleague.headers)).json() == []
    assert await contact_exists(database, owner, contact_id)
