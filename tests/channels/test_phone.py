"""Phone: voice calls and SMS over Twilio-style webhooks, signed by the twilio library, answered
as TwiML (parsed here with xml.etree), with turns against the scripted model."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from assistant.channels.phone import settle_background
from assistant.http import dependencies
from store.db import Database
from store.models.ai import AiConversation
from store.models.communications import Conversation, ConversationMessage
from store.models.crm import Contact
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.channels.conftest import PUBLIC_URL, TWILIO_TOKEN, PhoneLine, twilio_post
from tests.channels.fake_twilio import FakeTwilio
from tests.conftest import WorkspaceFixture
from tests.http.conftest import MakeServices
from tests.model_server import Call, ModelServer, Text, ToolCalls

VOICE = "/v1/channels/phone/voice"
SMS = "/v1/channels/phone/sms"


async def hook(client: httpx.AsyncClient, path: str, params: dict[str, str],
               **kwargs: str) -> httpx.Response:
    url, body, headers = twilio_post(path, params, **kwargs)
    return await client.post(url, content=body, headers=headers)


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.text)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]


def target(url: str | None) -> tuple[str, dict[str, str]]:
    assert url
    parts = urlsplit(url)
    return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


def call_params(line: PhoneLine, sid: str, caller: str | None = None, **extra: str
                ) -> dict[str, str]:
    return {"AccountSid": "AC0TEST", "CallSid": sid, "From": caller or line.member,
            "To": line.number, "CallStatus": "in-progress", "Direction": "inbound", **extra}


async def inbox(database: Database, ws: WorkspaceFixture, tag: str) -> list[tuple[str, str]]:
    async with scoped_session(database.sessions, ws.scope) as session:
        rows = (await session.execute(
            sa.select(ConversationMessage.direction, ConversationMessage.content)
            .join(Conversation, Conversation.id == ConversationMessage.conversation_id)
            .where(Conversation.tags.contains([tag]))
            .order_by(ConversationMessage.sent_at, ConversationMessage.created_at))).all()
    return [(str(d), c) for d, c in rows]


async def ai_conversations(database: Database, ws: WorkspaceFixture) -> list[AiConversation]:
    async with scoped_session(database.sessions, ws.scope) as session:
        return list(await session.scalars(sa.select(AiConversation)))


# -- voice ------------------------------------------------------------------------------------

async def test_a_call_greets_answers_reprompts_once_and_hangs_up(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    sid = f"CA{uuid.uuid4().hex}"
    greeting = twiml(await hook(client, VOICE, call_params(phone_line, sid)))
    assert verbs(greeting) == ["Say", "Gather", "Redirect"]
    assert "How can I help?" in (greeting[0].text or "")
    gather = greeting.find("Gather")
    assert gather is not None and gather.get("input") == "speech"
    path, query = target(gather.get("action"))
    assert (path, query) == (f"{VOICE}/gather", {"step": "1"})
    silence_path, silence_query = target(greeting.find("Redirect").text)  # type: ignore[union-attr]
    assert (silence_path, silence_query) == (f"{VOICE}/silence", {"step": "1", "again": "0"})

    server.script(Text("You have **two** contacts: see https://app.example/contacts."))
    answer = twiml(await hook(client, f"{VOICE}/gather?step=1", call_params(
        phone_line, sid, SpeechResult="How many contacts do I have?", Confidence="0.92")))
    assert verbs(answer) == ["Say", "Gather", "Redirect"]
    assert answer[0].text == "You have two contacts: see"  # no markup, no URL read out
    assert target(answer.find("Gather").get("action"))[1] == {"step": "2"}  # type: ignore[union-attr]
    assert server.requests[0].messages[-1]["content"] == "How many contacts do I have?"
    assert "phone call" in server.requests[0].messages[0]["content"]  # the voice style

    reprompt = twiml(await hook(client, f"{VOICE}/silence?step=2&again=0",
                                call_params(phone_line, sid)))
    assert verbs(reprompt) == ["Say", "Gather", "Redirect"]
    assert "still there" in (reprompt[0].text or "")
    assert target(reprompt.find("Redirect").text)[1] == {"step": "2", "again": "1"}  # type: ignore[union-attr]
    bye = twiml(await hook(client, f"{VOICE}/silence?step=2&again=1",
                           call_params(phone_line, sid)))
    assert verbs(bye) == ["Say", "Hangup"] and "Goodbye" in (bye[0].text or "")
    ended = await hook(client, f"{VOICE}/status", call_params(
        phone_line, sid, CallStatus="completed", CallDuration="42"))
    assert verbs(twiml(ended)) == []

    assert await inbox(database, phone_line.ws, f"call:{sid}") == [
        ("inbound", f"Incoming call from {phone_line.member}"),
        ("inbound", "How many contacts do I have?"),
        ("outbound", "You have two contacts: see"),
        ("inbound", "Call ended (completed, 42 seconds)"),
    ]
    [conversation] = await ai_conversations(database, phone_line.ws)
    assert conversation.channel == "voice" and conversation.external_key == f"voice:{sid}"
    assert len(server.requests) == 1


async def test_a_retried_call_webhook_is_answered_once(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    sid = f"CA{uuid.uuid4().hex}"
    greeted = await hook(client, VOICE, call_params(phone_line, sid))
    assert (await hook(client, VOICE, call_params(phone_line, sid))).text == greeted.text
    params = call_params(phone_line, sid, SpeechResult="Say hello")
    server.script(Text("Hello there."))
    first = await hook(client, f"{VOICE}/gather?step=1", params)
    again = await hook(client, f"{VOICE}/gather?step=1", params)
    assert first.text == again.text and "Hello there." in first.text
    assert len(server.requests) == 1
    silent = await hook(client, f"{VOICE}/silence?step=2&again=1", call_params(phone_line, sid))
    assert (await hook(client, f"{VOICE}/silence?step=2&again=1",
                       call_params(phone_line, sid))).text == silent.text
    assert await inbox(database, phone_line.ws, f"call:{sid}") == [
        ("inbound", f"Incoming call from {phone_line.member}"), ("inbound", "Say hello"),
        ("outbound", "Hello there.")]


@pytest.fixture
async def twilio_api() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio("AC0TEST", TWILIO_TOKEN) as fake:
        yield fake


@pytest.fixture
async def slow_client(app: FastAPI, make_services: MakeServices, twilio_api: FakeTwilio
                      ) -> AsyncIterator[httpx.AsyncClient]:
    """The app with webhooks that wait only 0.2 s for a turn (the services dependency
    overridden)."""
    slow = make_services(twilio_auth_token=TWILIO_TOKEN, public_url=PUBLIC_URL,
                         voice_wait_seconds=0.2, sms_wait_seconds=0.2,
                         twilio_account_sid=twilio_api.account_sid, twilio_api_url=twilio_api.url)
    app.dependency_overrides[dependencies.services] = lambda: slow
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://neptune.test") as c:
        yield c
    app.dependency_overrides.clear()
    await settle_background()


async def test_a_slow_turn_answers_with_a_filler_and_a_redirect(
        slow_client: httpx.AsyncClient, phone_line: PhoneLine, server: ModelServer) -> None:
    make_services_slow = slow_client
    sid = f"CA{uuid.uuid4().hex}"
    await hook(make_services_slow, VOICE, call_params(phone_line, sid))
    server.script(Text("That took a while.", chunks=3, chunk_delay=0.15))
    filler = twiml(await hook(make_services_slow, f"{VOICE}/gather?step=1",
                              call_params(phone_line, sid, SpeechResult="Think hard")))
    assert verbs(filler) == ["Say", "Redirect"]
    path, query = target(filler[1].text)
    assert (path, query) == (f"{VOICE}/result", {"step": "1", "try": "1"})
    for _ in range(10):
        collected = twiml(await hook(make_services_slow, f"{path}?step=1&try={query['try']}",
                                     call_params(phone_line, sid)))
        if verbs(collected) != ["Say", "Redirect"]:
            break
        query = target(collected[1].text)[1]
    assert verbs(collected) == ["Say", "Gather", "Redirect"]
    assert collected[0].text == "That took a while."


async def test_a_forged_call_webhook_is_refused(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine) -> None:
    sid = f"CA{uuid.uuid4().hex}"
    forged = await hook(client, VOICE, call_params(phone_line, sid), token="0" * 32)
    assert forged.status_code == 401
    assert forged.headers["content-type"] == "application/problem+json"
    url, body, headers = twilio_post(VOICE, call_params(phone_line, sid))
    moved = await client.post(f"{url}/gather?step=1", content=body, headers=headers)
    assert moved.status_code == 401  # a signature covers the URL, too
    tampered = body.replace(phone_line.member.encode().replace(b"+", b"%2B"), b"%2B19995550000")
    assert (await client.post(url, content=tampered, headers=headers)).status_code == 401
    assert await inbox(database, phone_line.ws, f"call:{sid}") == []


async def test_an_unknown_number_or_caller_runs_nothing(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    sid = f"CA{uuid.uuid4().hex}"
    params = call_params(phone_line, sid) | {"To": "+15005550006"}
    unknown = await hook(client, VOICE, params)
    assert unknown.status_code == 404 and "+15005550006" in unknown.json()["detail"]
    stranger = twiml(await hook(client, VOICE, call_params(phone_line, sid,
                                                           caller="+14155550199")))
    assert verbs(stranger) == ["Say", "Hangup"] and "team members" in (stranger[0].text or "")
    spoken = twiml(await hook(client, f"{VOICE}/gather?step=1", call_params(
        phone_line, sid, caller="+14155550199", SpeechResult="delete all contacts")))
    assert verbs(spoken) == ["Say", "Hangup"]
    assert server.requests == [] and await ai_conversations(database, phone_line.ws) == []
    assert await inbox(database, phone_line.ws, f"call:{sid}") == [
        ("inbound", "Incoming call from +14155550199")]


async def test_an_approval_by_voice_runs_the_action_once(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    contact_id = await add_contact(database, phone_line.ws)
    sid = f"CA{uuid.uuid4().hex}"
    await hook(client, VOICE, call_params(phone_line, sid))
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact_id)})]),
                  Text("Deleting Grace needs your approval."))
    asked = twiml(await hook(client, f"{VOICE}/gather?step=1", call_params(
        phone_line, sid, SpeechResult="Delete Grace")))
    assert "Say yes to confirm" in (asked[0].text or "")
    gather = asked.find("Gather")
    assert gather is not None and gather.get("input") == "speech dtmf"
    assert gather.get("numDigits") == "1"
    server.script(Text("Grace is deleted."))
    done = twiml(await hook(client, f"{VOICE}/gather?step=2", call_params(
        phone_line, sid, Digits="1")))
    assert done[0].text == "Grace is deleted."
    assert not await contact_exists(database, phone_line.ws, contact_id)
    server.script(Text("Yes to what?"))
    again = twiml(await hook(client, f"{VOICE}/gather?step=3", call_params(
        phone_line, sid, SpeechResult="yes")))  # nothing waits now: an ordinary utterance
    assert again[0].text == "Yes to what?" and len(server.requests) == 4


# -- SMS --------------------------------------------------------------------------------------

def sms_params(line: PhoneLine, body: str, *, sid: str | None = None,
               caller: str | None = None) -> dict[str, str]:
    return {"AccountSid": "AC0TEST", "MessageSid": sid or f"SM{uuid.uuid4().hex}",
            "From": caller or line.member, "To": line.number, "Body": body, "NumMedia": "0"}


def messages(root: ET.Element) -> list[str]:
    assert all(child.tag == "Message" for child in root)
    return [child.text or "" for child in root]


async def test_an_sms_is_answered_and_a_retry_gets_the_same_answer(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    params = sms_params(phone_line, "How many deals are open?")
    server.script(Text("**Three** deals are open."))
    first = await hook(client, SMS, params)
    assert messages(twiml(first)) == ["Three deals are open."]
    again = await hook(client, SMS, params)
    assert again.text == first.text and len(server.requests) == 1
    assert "SMS text messages" in server.requests[0].messages[0]["content"]
    assert await inbox(database, phone_line.ws, f"sms:{phone_line.member}") == [
        ("inbound", "How many deals are open?"), ("outbound", "Three deals are open.")]


async def test_signalwire_signs_in_its_own_header(
        client: httpx.AsyncClient, phone_line: PhoneLine, server: ModelServer) -> None:
    url, body, headers = twilio_post(SMS, sms_params(phone_line, "Ping"))
    headers["X-SignalWire-Signature"] = headers.pop("X-Twilio-Signature")
    server.script(Text("Pong."))
    response = await client.post(url, content=body, headers=headers)
    assert messages(twiml(response)) == ["Pong."]
    headers["X-SignalWire-Signature"] = "bm90IGEgc2lnbmF0dXJl"
    forged = await client.post(url, content=body.replace(b"Ping", b"Pong"), headers=headers)
    assert forged.status_code == 401


async def test_a_slow_sms_answer_is_texted_when_ready(
        slow_client: httpx.AsyncClient, twilio_api: FakeTwilio, database: Database,
        phone_line: PhoneLine, server: ModelServer) -> None:
    server.script(Text("Your report is ready.", chunks=3, chunk_delay=0.2))
    params = sms_params(phone_line, "Build my report")
    now = messages(twiml(await hook(slow_client, SMS, params)))
    assert now == ["I'm still working on that; I'll text you the answer."]
    await settle_background()
    assert twilio_api.sent == [{"From": phone_line.number, "To": phone_line.member,
                                "Body": "Your report is ready."}]
    retried = messages(twiml(await hook(slow_client, SMS, params)))
    assert retried == ["Your report is ready."] and len(twilio_api.sent) == 1
    assert await inbox(database, phone_line.ws, f"sms:{phone_line.member}") == [
        ("inbound", "Build my report"), ("outbound", "Your report is ready.")]


async def test_a_long_sms_answer_is_split_at_sentence_boundaries(
        client: httpx.AsyncClient, phone_line: PhoneLine, server: ModelServer) -> None:
    sentence = "This sentence is part of a long answer about your pipeline. "
    server.script(Text(sentence * 60))
    parts = messages(twiml(await hook(client, SMS, sms_params(phone_line, "Tell me all"))))
    assert len(parts) == 3 and all(len(p) <= 1600 for p in parts)
    assert all(p.endswith("pipeline.") for p in parts)
    assert " ".join(parts) == (sentence * 60).strip()


async def test_sms_approval_by_yes(client: httpx.AsyncClient, database: Database,
                                   phone_line: PhoneLine, server: ModelServer) -> None:
    contact_id = await add_contact(database, phone_line.ws)
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact_id)})]),
                  Text("Deleting Grace needs your approval."))
    [asked] = messages(twiml(await hook(client, SMS, sms_params(phone_line, "delete Grace"))))
    assert asked.endswith("Reply YES to confirm or NO to cancel.")
    assert await contact_exists(database, phone_line.ws, contact_id)
    server.script(Text("Grace is deleted."))
    yes = sms_params(phone_line, "YES")
    assert messages(twiml(await hook(client, SMS, yes))) == ["Grace is deleted."]
    assert not await contact_exists(database, phone_line.ws, contact_id)
    assert messages(twiml(await hook(client, SMS, yes))) == ["Grace is deleted."]  # retried
    assert len(server.requests) == 3  # the proposal (2 steps) and the continuation


async def test_an_sms_is_refused_when_forged_or_for_an_unknown_number(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    forged = await hook(client, SMS, sms_params(phone_line, "hi"), token="f" * 32)
    assert forged.status_code == 401
    unknown = await hook(client, SMS, sms_params(phone_line, "hi") | {"To": "+15005550006"})
    assert unknown.status_code == 404
    assert unknown.headers["content-type"] == "application/problem+json"
    assert server.requests == []
    assert await inbox(database, phone_line.ws, f"sms:{phone_line.member}") == []


async def test_an_sms_from_a_contact_lands_in_the_inbox_without_a_turn(
        client: httpx.AsyncClient, database: Database, phone_line: PhoneLine,
        server: ModelServer) -> None:
    async with scoped_session(database.sessions, phone_line.ws.scope) as session:
        contact = await ContactRepository(session, phone_line.ws.scope).create(
            first_name="Ada", phone="+14155550123")
    reply = twiml(await hook(client, SMS, sms_params(phone_line, "Is my order ready?",
                                                     caller="+14155550123")))
    assert messages(reply) == [] and server.requests == []
    assert await inbox(database, phone_line.ws, "sms:+14155550123") == [
        ("inbound", "Is my order ready?")]
    async with scoped_session(database.sessions, phone_line.ws.scope) as session:
        conversation = await session.scalar(sa.select(Conversation).where(
            Conversation.tags.contains(["sms:+14155550123"])))
    assert conversation is not None and conversation.contact_id == contact.id
    assert conversation.unread_count == 1


async def add_contact(database: Database, ws: WorkspaceFixture) -> uuid.UUID:
    async with scoped_session(database.sessions, ws.scope) as session:
        row = await ContactRepository(session, ws.scope).create(
            first_name="Grace", email="grace@example.com")
    return row.id


async def contact_exists(database: Database, ws: WorkspaceFixture, contact_id: uuid.UUID
                         ) -> bool:
    async with scoped_session(database.sessions, ws.scope) as session:
        return await session.get(Contact, (ws.workspace_id, contact_id)) is not None
