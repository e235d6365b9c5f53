"""Channel fixtures: the app with Slack and phone secrets, a fake Slack Web API on loopback,
workspaces connected to a Slack team and a phone number, and signing with the providers' own
libraries (`slack_sdk`, `twilio`), never with Neptune's code."""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from slack_sdk.signature import SignatureVerifier
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from assistant.agent_runs import RUNTIME_SERVICE
from assistant.channels.phone import settle_background
from assistant.channels.slack_jobs import SLACK_SERVICE, SlackSettings
from assistant.http.app import Services, create_app
from assistant.worker import default_handlers
from store.db import Database
from store.models.admin import Integration, IntegrationProvider
from store.models.channels import ChannelDelivery, DeliveryChannel, LinkProvider
from store.models.communications import PhoneProvider, WorkspacePhoneNumber
from store.repositories.channels import UserLinkRepository
from store.tenancy import scoped_session
from tests.channels.fake_slack import FakeSlack
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.http.conftest import MakeServices, make_member, make_services, other, owner
from tests.runtime.conftest import model_server, server
from tools.jobs import JobContext

__all__ = ["make_member", "make_services", "model_server", "other", "owner", "server"]
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TWILIO_TOKEN = "12345678901234567890123456789012"
PUBLIC_URL = "https://hooks.neptune.example"
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
async def slack_api() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def fake_slack(slack_api: FakeSlack) -> FakeSlack:
    slack_api.reset()
    return slack_api


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    return make_services(slack_signing_secret=SLACK_SECRET, twilio_auth_token=TWILIO_TOKEN,
                         public_url=PUBLIC_URL, voice_wait_seconds=5.0, sms_wait_seconds=5.0)


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://neptune.test") as c:
        yield c
    await settle_background()


# -- Slack ------------------------------------------------------------------------------------

@dataclass
class SlackTeam:
    ws: WorkspaceFixture
    team: str
    user: str  # the owner's Slack user id (same email address)


@pytest.fixture
async def slack_team(make_workspace: MakeWorkspace, database: Database,
                     fake_slack: FakeSlack) -> SlackTeam:
    ws = await make_workspace()
    team = f"T{uuid.uuid4().hex[:10].upper()}"
    async with scoped_session(database.sessions, ws.scope) as session:
        session.add(Integration(workspace_id=ws.workspace_id, provider=IntegrationProvider.SLACK,
                                account_id=team, name="Acme Slack"))
        email = await session.scalar(sa.text("SELECT email FROM users WHERE id = :id"),
                                     {"id": ws.user_id})
    user = f"U{uuid.uuid4().hex[:8].upper()}"
    fake_slack.team = team
    fake_slack.add_user(user, str(email).upper())  # Slack may keep another case
    return SlackTeam(ws, team, user)


def slack_headers(body: bytes, *, timestamp: int | None = None, secret: str = SLACK_SECRET,
                  content_type: str = "application/json", **extra: str) -> dict[str, str]:
    """Headers as Slack sends them, signed by slack_sdk's own signature code."""
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    return {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature,
            "Content-Type": content_type, **extra}


def mention(team: SlackTeam, text: str, *, event_id: str | None = None,
            ts: str = "1700000100.000200", thread_ts: str | None = None) -> bytes:
    event: dict[str, Any] = {"type": "app_mention", "user": team.user, "text": text,
                             "ts": ts, "channel": "C0GENERAL", "event_ts": ts}
    if thread_ts:
        event["thread_ts"] = thread_ts
    envelope = {"token": "legacy", "team_id": team.team, "api_app_id": "A0NEPTUNE",
                "type": "event_callback", "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": team.team, "user_id": "U0NEPTUNEBOT",
                                    "is_bot": True}]}
    return json.dumps(envelope).encode()


def form_body(**fields: str) -> bytes:
    return urlencode(fields).encode()


async def run_slack_jobs(database: Database, services: Services, fake: FakeSlack,
                         ws: WorkspaceFixture) -> int:
    """What the worker does: list due Slack work (`neptune_due_work`) for this workspace and
    hand each to the worker's own handler; returns how many ran."""
    async with database.sessions() as session:
        rows = (await session.execute(sa.text(
            "SELECT kind, workspace_id, record_id FROM neptune_due_work(now(), NULL, 1000)"
        ))).all()
    due = [r for r in rows if r.kind == "slack" and r.workspace_id == ws.workspace_id]
    handler = default_handlers()["slack"]
    slack = SlackSettings(bot_token="xoxb-test-token", api_url=fake.url, update_seconds=0)
    job = JobContext(database.sessions, datetime.now(UTC),
                     {RUNTIME_SERVICE: services.deps, SLACK_SERVICE: slack})
    for row in due:
        await handler(job, row.workspace_id, row.record_id)
    return len(due)


async def deliveries(database: Database, ws: WorkspaceFixture,
                     channel: DeliveryChannel) -> list[ChannelDelivery]:
    async with scoped_session(database.sessions, ws.scope) as session:
        return list(await session.scalars(sa.select(ChannelDelivery).where(
            ChannelDelivery.workspace_id == ws.workspace_id,
            ChannelDelivery.channel == channel).order_by(ChannelDelivery.created_at)))


# -- phone ------------------------------------------------------------------------------------

@dataclass
class PhoneLine:
    ws: WorkspaceFixture
    number: str  # the workspace's number (To)
    member: str  # the owner's linked phone (From)


@pytest.fixture
async def phone_line(make_workspace: MakeWorkspace, database: Database) -> PhoneLine:
    ws = await make_workspace()
    n = next(_numbers)
    number = f"+1415{uuid.uuid4().int % 10**6:06d}{n % 10}"
    member = f"+1212{uuid.uuid4().int % 10**6:06d}{n % 10}"
    async with scoped_session(database.sessions, ws.scope) as session:
        session.add(WorkspacePhoneNumber(workspace_id=ws.workspace_id, phone_number=number,
                                         provider=PhoneProvider.TWILIO))
        await UserLinkRepository(session, ws.scope).link(LinkProvider.PHONE, member, ws.user_id)
    return PhoneLine(ws, number, member)


def twilio_post(path: str, params: dict[str, str], *, token: str = TWILIO_TOKEN
                ) -> tuple[str, bytes, dict[str, str]]:
    """A webhook as Twilio sends it: form body, signed by the twilio library over the public
    URL plus the parameters."""
    signature = RequestValidator(token).compute_signature(PUBLIC_URL + path, params)
    headers = {"X-Twilio-Signature": signature,
               "Content-Type": "application/x-www-form-urlencoded"}
    return path, urlencode(params).encode(), headers
