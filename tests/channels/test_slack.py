"""Slack: the Events API, interactivity and `/neptune`, end to end against a fake Slack Web API.

Requests are signed with slack_sdk; the worker's own handler answers through the real slack_sdk
client; the model is scripted over HTTP."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from assistant.channels.slack import conversation_key
from assistant.channels.slack_format import APPROVE, mrkdwn
from assistant.http.app import Services
from store.crypto import Keyring, new_key_spec
from store.db import Database
from store.models.admin import Integration
from store.models.ai import AiConversation
from store.models.channels import DeliveryChannel, DeliveryStatus, LinkProvider
from store.models.core import MemberRole
from store.models.crm import Contact
from store.repositories.admin import OAuthTokenRepository
from store.repositories.channels import UserLinkRepository
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.channels.conftest import (
    SlackTeam,
    deliveries,
    form_body,
    mention,
    run_slack_jobs,
    slack_headers,
)
from tests.channels.fake_slack import FakeSlack
from tests.http.conftest import MakeMember
from tests.model_server import Call, ModelServer, Text, ToolCalls

EVENTS = "/v1/channels/slack/events"
ACTIONS = "/v1/channels/slack/interactivity"
COMMANDS = "/v1/channels/slack/commands"


async def post_event(client: httpx.AsyncClient, body: bytes, **headers: str) -> httpx.Response:
    return await client.post(EVENTS, content=body, headers=slack_headers(body, **headers))


def test_conversation_key_is_one_thread_and_one_person() -> None:
    key = conversation_key("T1", "C1", "1700.1", "U1")
    assert key == "slack:T1:C1:1700.1:U1"
    assert conversation_key("T1", "C1", "1700.1", "U2") != key  # another person
    assert conversation_key("T1", "C1", "1700.2", "U1") != key  # another thread
    assert conversation_key("T2", "C1", "1700.1", "U1") != key  # another team
    assert conversation_key("T1", "D1", None, "U1") == "slack:T1:D1:-:U1"  # a DM outside threads


def test_mrkdwn_fixes_markdown_habits_and_escapes() -> None:
    text = "## Deals\n**Acme** & co: [open](https://x.example/d/1)\n- one <b>"
    assert mrkdwn(text) == ("*Deals*\n*Acme* &amp; co: <https://x.example/d/1|open>\n"
                            "• one &lt;b&gt;")


async def test_url_verification_answers_the_challenge(client: httpx.AsyncClient) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "3eZbrw1aB"}).encode()
    response = await post_event(client, body)
    assert response.status_code == 200 and response.json() == {"challenge": "3eZbrw1aB"}


async def test_a_mention_is_answered_in_its_thread_progressively(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    body = mention(slack_team, "<@U0NEPTUNEBOT> how are **deals** going?")
    response = await post_event(client, body)
    assert response.status_code == 200 and response.json() == {"ok": True, "queued": True}
    assert fake_slack.calls == []  # acknowledged at once; the worker answers
    server.script(Text("Deals are **fine**: 3 open.", chunks=4, chunk_delay=0.05))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1

    [placeholder] = fake_slack.called("chat.postMessage")
    assert placeholder["channel"] == "C0GENERAL"
    assert placeholder["thread_ts"] == "1700000100.000200"  # a new thread under the mention
    [placeholder_ts] = list(fake_slack.messages)
    updates = fake_slack.called("chat.update")
    assert len(updates) >= 2 and all(u["ts"] == placeholder_ts for u in updates)
    assert updates[0]["text"].endswith(" …")  # shown while it was being written
    assert updates[-1]["text"] == "Deals are *fine*: 3 open."
    assert server.requests[0].messages[-1]["content"] == "how are **deals** going?"
    assert "Channel: Slack" in server.requests[0].messages[0]["content"]  # the mrkdwn style
    [row] = await deliveries(database, slack_team.ws, DeliveryChannel.SLACK)
    assert row.status == DeliveryStatus.DONE
    async with scoped_session(database.sessions, slack_team.ws.scope) as session:
        conversation = await session.scalar(sa.select(AiConversation).where(
            AiConversation.external_key == conversation_key(
                slack_team.team, "C0GENERAL", "1700000100.000200", slack_team.user)))
    assert conversation is not None and conversation.user_id == slack_team.ws.user_id
    assert conversation.channel == "slack"


async def test_forged_signature_is_refused_and_nothing_is_queued(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    body = mention(slack_team, "hello")
    response = await post_event(client, body, secret="not-the-signing-secret")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert "X-Slack-Signature does not match" in response.json()["detail"]
    tampered = await client.post(EVENTS, content=body.replace(b"hello", b"HELLO"),
                                 headers=slack_headers(body))
    assert tampered.status_code == 401
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


async def test_stale_timestamp_is_refused(client: httpx.AsyncClient, database: Database,
                                          slack_team: SlackTeam) -> None:
    body = mention(slack_team, "hello")
    response = await post_event(client, body, timestamp=int(time.time()) - 6 * 60)
    assert response.status_code == 401 and "five minutes" in response.json()["detail"]
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


async def test_a_retried_event_is_processed_once(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    body = mention(slack_team, "count my contacts", event_id="Ev0RETRIED")
    assert (await post_event(client, body)).json()["queued"] is True
    server.script(Text("You have none."))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    again = await post_event(client, body, **{"X-Slack-Retry-Num": "1",
                                              "X-Slack-Retry-Reason": "http_timeout"})
    assert again.status_code == 200 and again.json()["queued"] is False
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 0
    assert len(server.requests) == 1 and len(fake_slack.called("chat.postMessage")) == 1


async def test_one_message_delivered_as_two_events_is_answered_once(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    mentioned = json.loads(mention(slack_team, "<@U0NEPTUNEBOT> hi", ts="1700000300.000100"))
    mentioned["event"]["channel"] = "D0DIRECT"
    direct = json.loads(json.dumps(mentioned))
    direct["event_id"] = "Ev0SECONDEVENT"
    direct["event"].update(type="message", channel_type="im")
    await post_event(client, json.dumps(mentioned).encode())
    await post_event(client, json.dumps(direct).encode())
    assert len(await deliveries(database, slack_team.ws, DeliveryChannel.SLACK)) == 1
    server.script(Text("Hi!"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert len(server.requests) == 1 and len(fake_slack.called("chat.postMessage")) == 1


async def test_a_retry_after_a_failed_attempt_is_not_dropped(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    body = mention(slack_team, "hello there", event_id="Ev0FAILSONCE")
    await post_event(client, body)
    fake_slack.failures["chat.postMessage"] = "ratelimited"
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    [row] = await deliveries(database, slack_team.ws, DeliveryChannel.SLACK)
    assert row.status == DeliveryStatus.PENDING and row.retry_at is not None
    assert "ratelimited" in (row.error or "") and server.requests == []
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 0  # later
    retried = await post_event(client, body, **{"X-Slack-Retry-Num": "1"})
    assert retried.json()["queued"] is True  # Slack's retry makes it due at once
    server.script(Text("Hi!"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert fake_slack.called("chat.update")[-1]["text"] == "Hi!"
    [row] = await deliveries(database, slack_team.ws, DeliveryChannel.SLACK)
    assert row.status == DeliveryStatus.DONE and row.attempts == 2


async def test_an_unmapped_team_is_acknowledged_and_ignored(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    stranger = SlackTeam(slack_team.ws, "T0NOBODY", slack_team.user)
    response = await post_event(client, mention(stranger, "hello"))
    assert response.status_code == 200 and response.json() == {"ok": True, "queued": False}
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


async def test_an_unmapped_user_is_told_and_nothing_runs(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    fake_slack.add_user("U0STRANGER", "stranger@elsewhere.example")
    stranger = SlackTeam(slack_team.ws, slack_team.team, "U0STRANGER")
    await post_event(client, mention(stranger, "delete everything"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    [whisper] = fake_slack.called("chat.postEphemeral")
    assert whisper["user"] == "U0STRANGER" and "link your Slack account" in whisper["text"]
    assert server.requests == [] and fake_slack.called("chat.postMessage") == []


async def test_bot_messages_and_unsigned_chatter_are_ignored(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    envelope = json.loads(mention(slack_team, "I am a bot"))
    envelope["event"]["bot_id"] = "B0OTHER"
    assert (await post_event(client, json.dumps(envelope).encode())).json() == {"ok": True}
    envelope = json.loads(mention(slack_team, "talking to myself"))
    envelope["event"]["user"] = "U0NEPTUNEBOT"  # Neptune's own message
    assert (await post_event(client, json.dumps(envelope).encode())).json() == {"ok": True}
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []
    bad = await client.post(EVENTS, content=b"not json", headers=slack_headers(b"not json"))
    assert bad.status_code == 400 and bad.headers["content-type"] == "application/problem+json"


# -- approvals --------------------------------------------------------------------------------

def click(team: SlackTeam, message: dict[str, Any], pending_id: str, *, user: str | None = None,
          trigger: str | None = None, action_id: str = APPROVE) -> bytes:
    payload = {
        "type": "block_actions", "team": {"id": team.team, "domain": "acme"},
        "user": {"id": user or team.user, "team_id": team.team},
        "api_app_id": "A0NEPTUNE", "trigger_id": trigger or f"trig.{uuid.uuid4().hex}",
        "container": {"type": "message", "message_ts": message["ts"],
                      "channel_id": "C0GENERAL", "is_ephemeral": False,
                      "thread_ts": message.get("thread_ts")},
        "channel": {"id": "C0GENERAL", "name": "general"},
        "message": {"type": "message", "ts": message["ts"], "text": message["text"],
                    "thread_ts": message.get("thread_ts"), "blocks": message["blocks"]},
        "actions": [{"action_id": action_id, "block_id": f"approval:{pending_id}",
                     "value": pending_id, "type": "button", "action_ts": "1700000200.1"}],
    }
    return form_body(payload=json.dumps(payload))


async def propose_delete(client: httpx.AsyncClient, services: Services, database: Database,
                         fake: FakeSlack, team: SlackTeam, server: ModelServer
                         ) -> tuple[uuid.UUID, dict[str, Any], str]:
    async with scoped_session(database.sessions, team.ws.scope) as session:
        contact = await ContactRepository(session, team.ws.scope).create(
            first_name="Grace", email="grace@example.com")
    await post_event(client, mention(team, "delete Grace"))
    server.script(ToolCalls([Call("delete_contact", {"contact_id": str(contact.id)})]),
                  Text("Deleting Grace needs your approval."))
    await run_slack_jobs(database, services, fake, team.ws)
    [message] = [m for m in fake.messages.values() if any(
        b["type"] == "actions" for b in m["blocks"])]
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    pending_id = actions["elements"][0]["value"]
    assert [e["action_id"] for e in actions["elements"]] == ["neptune_approve",
                                                             "neptune_reject"]
    return contact.id, message, pending_id


async def contact_exists(database: Database, team: SlackTeam, contact_id: uuid.UUID) -> bool:
    async with scoped_session(database.sessions, team.ws.scope) as session:
        return await session.get(Contact, (team.ws.workspace_id, contact_id)) is not None


async def test_an_approval_click_runs_the_action_once(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    contact_id, message, pending_id = await propose_delete(
        client, services, database, fake_slack, slack_team, server)
    assert "Deleting Grace needs your approval." in message["text"]
    body = click(slack_team, message, pending_id, trigger="trig.once")
    response = await client.post(ACTIONS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert response.status_code == 200 and response.json() == {"ok": True}
    server.script(Text("Grace is deleted."))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert not await contact_exists(database, slack_team, contact_id)
    decided = fake_slack.messages[message["ts"]]
    assert not any(b["type"] == "actions" for b in decided["blocks"])
    assert f"Approved by <@{slack_team.user}>" in json.dumps(decided["blocks"])
    assert fake_slack.called("chat.update")[-1]["text"] == "Grace is deleted."

    replay = await client.post(ACTIONS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert replay.status_code == 200
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 0
    second = click(slack_team, message, pending_id, trigger="trig.twice")
    await client.post(ACTIONS, content=second, headers=slack_headers(
        second, content_type="application/x-www-form-urlencoded"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert "already decided" in fake_slack.called("chat.postEphemeral")[-1]["text"]
    async with scoped_session(database.sessions, slack_team.ws.scope) as session:
        runs = await session.scalar(sa.text(
            "SELECT count(*) FROM neptune_action_history WHERE action_type = 'delete_contact' "
            "AND success"))
    assert runs == 1


async def test_a_click_by_an_unmapped_user_decides_nothing(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    contact_id, message, pending_id = await propose_delete(
        client, services, database, fake_slack, slack_team, server)
    fake_slack.add_user("U0GUEST", "guest@elsewhere.example")
    body = click(slack_team, message, pending_id, user="U0GUEST")
    await client.post(ACTIONS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert "link your Slack account" in fake_slack.called("chat.postEphemeral")[-1]["text"]
    assert await contact_exists(database, slack_team, contact_id)


async def test_interactivity_refuses_forged_and_stale_requests(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    message = {"ts": "1700000000.000001", "text": "x", "blocks": []}
    body = click(slack_team, message, str(uuid.uuid4()))
    form = "application/x-www-form-urlencoded"
    forged = await client.post(ACTIONS, content=body, headers=slack_headers(
        body, secret="forged-secret", content_type=form))
    stale = await client.post(ACTIONS, content=body, headers=slack_headers(
        body, timestamp=int(time.time()) - 3600, content_type=form))
    assert forged.status_code == 401 and stale.status_code == 401
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


async def test_interactivity_from_an_unmapped_team_is_told(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    stranger = SlackTeam(slack_team.ws, "T0NOBODY", slack_team.user)
    message = {"ts": "1700000000.000001", "text": "x", "blocks": []}
    body = click(stranger, message, str(uuid.uuid4()))
    response = await client.post(ACTIONS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert response.status_code == 200 and "not connected" in response.json()["text"]
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


# -- /neptune ---------------------------------------------------------------------------------

def command(team: SlackTeam, text: str, trigger: str = "trig.cmd") -> bytes:
    return form_body(token="legacy", team_id=team.team, team_domain="acme",
                     channel_id="C0GENERAL", channel_name="general", user_id=team.user,
                     user_name="owner", command="/neptune", text=text, api_app_id="A0NEPTUNE",
                     response_url="https://hooks.slack.com/commands/T/1/x", trigger_id=trigger)


async def post_command(client: httpx.AsyncClient, body: bytes, **headers: Any
                       ) -> httpx.Response:
    return await client.post(COMMANDS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded", **headers))


async def test_the_slash_command_answers_in_a_thread_of_its_own(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    body = command(slack_team, "how many open deals?")
    response = await post_command(client, body)
    assert response.status_code == 200 and response.json()["response_type"] == "ephemeral"
    replay = await post_command(client, body)
    assert replay.status_code == 200
    server.script(Text("Three."))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    root, placeholder = fake_slack.called("chat.postMessage")
    assert root["text"] == f"<@{slack_team.user}> asked: how many open deals?"
    root_ts = next(ts for ts, m in fake_slack.messages.items() if m["text"] == root["text"])
    assert placeholder["thread_ts"] == root_ts
    assert fake_slack.called("chat.update")[-1]["text"] == "Three."
    assert len(server.requests) == 1


async def test_the_slash_command_refuses_forged_stale_and_unmapped(
        client: httpx.AsyncClient, database: Database, slack_team: SlackTeam) -> None:
    body = command(slack_team, "hello")
    assert (await post_command(client, body, secret="forged")).status_code == 401
    assert (await post_command(client, body, timestamp=int(time.time()) + 600)).status_code == 401
    stranger = SlackTeam(slack_team.ws, "T0NOBODY", slack_team.user)
    response = await post_command(client, command(stranger, "hello"))
    assert response.status_code == 200 and "not connected" in response.json()["text"]
    assert await deliveries(database, slack_team.ws, DeliveryChannel.SLACK) == []


async def test_a_direct_message_is_answered_in_the_dm(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    envelope = json.loads(mention(slack_team, "hi in private"))
    envelope["event"].update(type="message", channel="D0DIRECT", channel_type="im")
    assert (await post_event(client, json.dumps(envelope).encode())).json()["queued"] is True
    server.script(Text("Hello privately."))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    [posted] = fake_slack.called("chat.postMessage")
    assert posted["channel"] == "D0DIRECT" and posted.get("thread_ts") is None
    assert {call.token for call in fake_slack.calls} == {"xoxb-test-token"}  # the default
    async with scoped_session(database.sessions, slack_team.ws.scope) as session:
        keys = list(await session.scalars(sa.select(AiConversation.external_key)))
    assert keys == [conversation_key(slack_team.team, "D0DIRECT", None, slack_team.user)]


async def test_a_linked_member_who_may_not_decide_is_refused(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer,
        make_member: MakeMember) -> None:
    contact_id, message, pending_id = await propose_delete(
        client, services, database, fake_slack, slack_team, server)
    colleague = await make_member(slack_team.ws, MemberRole.MEMBER)
    async with scoped_session(database.sessions, slack_team.ws.scope) as session:
        await UserLinkRepository(session, slack_team.ws.scope).link(
            LinkProvider.SLACK, "U0COLLEAGUE", colleague.user_id)
    body = click(slack_team, message, pending_id, user="U0COLLEAGUE")
    await client.post(ACTIONS, content=body, headers=slack_headers(
        body, content_type="application/x-www-form-urlencoded"))
    assert await run_slack_jobs(database, services, fake_slack, slack_team.ws) == 1
    assert "can't decide" in fake_slack.called("chat.postEphemeral")[-1]["text"]
    assert fake_slack.called("users.info")[-1]["user"] != "U0COLLEAGUE"  # the link was enough
    assert await contact_exists(database, slack_team, contact_id)


async def test_the_workspace_s_own_sealed_token_wins(
        client: httpx.AsyncClient, services: Services, database: Database,
        fake_slack: FakeSlack, slack_team: SlackTeam, server: ModelServer) -> None:
    keyring = Keyring.parse(new_key_spec("k1"))
    services.deps.keyring = keyring
    ws = slack_team.ws
    async with scoped_session(database.sessions, ws.scope) as session:
        integration_id = await session.scalar(sa.select(Integration.id).where(
            Integration.account_id == slack_team.team))
        assert integration_id is not None
        await OAuthTokenRepository(session, ws.scope).store(
            integration_id, access_token_encrypted=keyring.encrypt_text(
                "xoxb-workspace-own", ws.workspace_id, "oauth:access"))
    await post_event(client, mention(slack_team, "hello"))
    server.script(Text("Hi."))
    assert await run_slack_jobs(database, services, fake_slack, ws) == 1
    assert {call.token for call in fake_slack.calls} == {"xoxb-workspace-own"}
