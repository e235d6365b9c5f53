"""Admins link Slack users and phone numbers to members; a linked number reaches Neptune as
that member."""

from __future__ import annotations

import uuid

import httpx
import sqlalchemy as sa

from store.db import Database
from store.models.ai import AiConversation
from store.models.communications import PhoneProvider, WorkspacePhoneNumber
from store.models.core import MemberRole
from store.tenancy import scoped_session
from tests.channels.conftest import twilio_post
from tests.http.conftest import MakeMember, Member
from tests.model_server import ModelServer, Text

LINKS = "/v1/channels/links"


async def test_a_linked_number_calls_in_as_its_member(
        client: httpx.AsyncClient, database: Database, owner: Member,
        make_member: MakeMember, server: ModelServer) -> None:
    colleague = await make_member(owner.ws, MemberRole.MEMBER)
    number = f"+1646{uuid.uuid4().int % 10**7:07d}"
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        session.add(WorkspacePhoneNumber(workspace_id=owner.ws.workspace_id,
                                         phone_number=number, provider=PhoneProvider.SIGNALWIRE))
    created = await client.put(f"{LINKS}/phone/+1 (212) 555-0142",
                               json={"user_id": str(colleague.user_id)}, headers=owner.headers)
    assert created.status_code == 200, created.text
    assert created.json()["external_id"] == "+12125550142"
    listed = (await client.get(LINKS, headers=owner.headers)).json()
    assert [(x["provider"], x["external_id"], x["user_id"]) for x in listed] == [
        ("phone", "+12125550142", str(colleague.user_id))]

    server.script(Text("Hello, colleague."))
    path, body, headers = twilio_post("/v1/channels/phone/sms", {
        "MessageSid": f"SM{uuid.uuid4().hex}", "From": "+12125550142", "To": number,
        "Body": "Hi"})
    response = await client.post(path, content=body, headers=headers)
    assert "Hello, colleague." in response.text
    async with scoped_session(database.sessions, owner.ws.scope) as session:
        users = list(await session.scalars(sa.select(AiConversation.user_id)))
    assert users == [colleague.user_id]

    removed = await client.delete(f"{LINKS}/phone/+12125550142", headers=owner.headers)
    assert removed.status_code == 204
    again = await client.delete(f"{LINKS}/phone/+12125550142", headers=owner.headers)
    assert again.status_code == 404


async def test_only_admins_link_and_only_their_own_members(
        client: httpx.AsyncClient, owner: Member, other: Member,
        make_member: MakeMember) -> None:
    member = await make_member(owner.ws, MemberRole.MEMBER)
    body = {"user_id": str(member.user_id)}
    refused = await client.put(f"{LINKS}/slack/U0MEMBER1", json=body, headers=member.headers)
    assert refused.status_code == 403
    foreign = await client.put(f"{LINKS}/slack/U0MEMBER1", json={"user_id": str(other.user_id)},
                               headers=owner.headers)
    assert foreign.status_code == 422 and "not an active member" in foreign.json()["detail"]
    bad_slack = await client.put(f"{LINKS}/slack/not-a-user", json=body, headers=owner.headers)
    bad_phone = await client.put(f"{LINKS}/phone/12", json=body, headers=owner.headers)
    unknown = await client.put(f"{LINKS}/fax/123", json=body, headers=owner.headers)
    assert [bad_slack.status_code, bad_phone.status_code, unknown.status_code] == [422] * 3
    assert (await client.get(LINKS, headers=owner.headers)).json() == []
    assert (await client.get(LINKS, headers=other.headers)).json() == []
