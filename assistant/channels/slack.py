"""Slack, inbound: verify, normalise, de-duplicate, queue.

A request is verified with `slack_sdk`'s `SignatureVerifier` (HMAC-SHA256 over `v0:ts:body`,
constant-time compare, timestamp within five minutes) before anything is parsed. Then Slack's
payload becomes one of three small typed requests (`SlackMessage`, `SlackAction`,
`SlackCommand`), stored as a `channel_deliveries` row keyed by Slack's own id for it, in the
workspace the team is connected to; the worker does the work (`assistant.channels.slack_jobs`).
Slack wants an answer within three seconds and retries otherwise (`X-Slack-Retry-Num`); the row's
key makes a retry find the first delivery, which runs once, or again if it failed. A message is
keyed by the message itself (channel and `ts`) rather than the `event_id`: a retry carries both
unchanged, and one message that arrives as two events (an `app_mention` and a `message.im` for a
mention in a direct message) is still answered once.

A conversation is one Slack thread *and one person* (`conversation_key`): a Neptune conversation
belongs to one member, whose role decides what the tools may do, so two people mentioning
Neptune in the same thread each get their own conversation. A direct message outside a thread
continues the person's DM conversation.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from slack_sdk.signature import SignatureVerifier

from assistant.channels.common import Sessions, slack_workspace
from assistant.channels.slack_format import APPROVE, REJECT
from store.models.channels import DeliveryChannel
from store.repositories.channels import DeliveryRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.jobs import notify_due

log = logging.getLogger(__name__)
JOB_KIND = "slack"
_MENTION = re.compile(r"<@[UW][A-Z0-9]+>")


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    team: str
    channel: str
    user: str


class SlackMessage(_Request):
    """A mention in a channel or a direct message: run a turn and answer where it was asked."""

    kind: Literal["message"] = "message"
    text: str
    ts: str
    thread_ts: str | None = None
    dm: bool = False

    @property
    def reply_thread(self) -> str | None:
        """Where the answer goes: the thread, a new thread under a channel mention, or the DM
        itself for a direct message outside a thread."""
        if self.thread_ts:
            return self.thread_ts
        return None if self.dm else self.ts


class SlackAction(_Request):
    """A click on an approval button."""

    kind: Literal["action"] = "action"
    pending_action_id: uuid.UUID
    approve: bool
    message_ts: str
    action_ts: str = ""
    thread_ts: str | None = None
    message_text: str = ""
    message_blocks: list[dict[str, Any]] = Field(default_factory=list)


class SlackCommand(_Request):
    """`/neptune <question>`."""

    kind: Literal["command"] = "command"
    text: str


SlackWork = Annotated[SlackMessage | SlackAction | SlackCommand, Field(discriminator="kind")]
WORK_ADAPTER: TypeAdapter[SlackWork] = TypeAdapter(SlackWork)


def conversation_key(team: str, channel: str, thread_ts: str | None, user: str) -> str:
    """The Neptune conversation of one Slack thread and one person (see the module docstring);
    `thread_ts` None is the person's direct-message conversation outside threads."""
    return f"slack:{team}:{channel}:{thread_ts or '-'}:{user}"


def message_key(message: SlackMessage) -> str:
    """The delivery key of a message: the same for Slack's retries of its event, and for two
    events about the same message."""
    return f"message:{message.channel}:{message.ts}"


MAX_AGE_SECONDS = 5 * 60


def refusal(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> str | None:
    """Why this request is not Slack's (None when it is): the timestamp is missing or over
    five minutes off, or the signature does not match (slack_sdk's verifier: HMAC-SHA256 over
    `v0:timestamp:body`, compared in constant time; never our own HMAC)."""
    stamp = headers.get("x-slack-request-timestamp", "")
    if not stamp.isdigit():
        return "missing or malformed X-Slack-Request-Timestamp"
    if abs(now - int(stamp)) > MAX_AGE_SECONDS:
        return "the request timestamp is more than five minutes off (a replay?)"
    if not SignatureVerifier(secret).is_valid_request(body, dict(headers)):
        return "the X-Slack-Signature does not match the body"
    return None


# -- normalising ------------------------------------------------------------------------------

def message_of(envelope: Mapping[str, Any]) -> SlackMessage | None:
    """The request in an `event_callback`, or None for events Neptune ignores: bots (itself
    included), edits and other subtypes, channel chatter that does not mention it."""
    event = envelope.get("event") or {}
    kind, user = event.get("type"), event.get("user")
    if event.get("bot_id") or event.get("subtype") or not isinstance(user, str):
        return None
    if user in _bot_users(envelope):
        return None
    dm = kind == "message" and event.get("channel_type") == "im"
    if kind != "app_mention" and not dm:
        return None
    text = _MENTION.sub("", str(event.get("text") or "")).strip()
    try:
        return SlackMessage(team=str(envelope.get("team_id") or event.get("team")),
                            channel=event["channel"], user=user, text=text, ts=event["ts"],
                            thread_ts=event.get("thread_ts"), dm=dm)
    except (KeyError, ValidationError):
        return None


def _bot_users(envelope: Mapping[str, Any]) -> set[str]:
    return {str(a.get("user_id")) for a in envelope.get("authorizations") or []
            if isinstance(a, dict) and a.get("is_bot")}


def action_of(payload: Mapping[str, Any]) -> SlackAction | None:
    """An approval click from a `block_actions` payload; None for anything else."""
    if payload.get("type") != "block_actions":
        return None
    actions = [a for a in payload.get("actions") or [] if a.get("action_id") in (APPROVE, REJECT)]
    if not actions:
        return None
    action, container = actions[0], payload.get("container") or {}
    message = payload.get("message") or {}
    try:
        return SlackAction(
            team=(payload.get("team") or {}).get("id") or payload["user"]["team_id"],
            channel=container.get("channel_id") or payload["channel"]["id"],
            user=payload["user"]["id"], pending_action_id=uuid.UUID(action["value"]),
            approve=action["action_id"] == APPROVE,
            message_ts=container.get("message_ts") or message["ts"],
            action_ts=str(action.get("action_ts") or ""),
            thread_ts=container.get("thread_ts") or message.get("thread_ts"),
            message_text=str(message.get("text") or ""),
            message_blocks=[b for b in message.get("blocks") or [] if isinstance(b, dict)])
    except (KeyError, TypeError, ValueError, ValidationError):
        return None


def command_of(form: Mapping[str, str]) -> SlackCommand | None:
    try:
        return SlackCommand(team=form["team_id"], channel=form["channel_id"],
                            user=form["user_id"], text=form.get("text", "").strip())
    except (KeyError, ValidationError):
        return None


def interaction_payload(form: Mapping[str, str]) -> dict[str, Any]:
    """The JSON in an interactivity request's `payload` field ({} when there is none)."""
    try:
        payload = json.loads(form.get("payload", ""))
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


# -- queueing ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Queued:
    """What happened to a delivery: no workspace for the team, queued, or seen before."""

    workspace_id: uuid.UUID | None
    delivery_id: uuid.UUID | None = None
    fresh: bool = False


async def enqueue(sessions: Sessions, work: SlackWork, key: str) -> Queued:
    """Record the work in the team's workspace and wake the worker when that commits."""
    workspace_id = await slack_workspace(sessions, work.team)
    if workspace_id is None:
        log.warning("slack: team %s is not connected to a workspace; ignored", work.team)
        return Queued(None)
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(sessions, scope) as session:
        row, fresh = await DeliveryRepository(session, scope).record(
            DeliveryChannel.SLACK, key, work.model_dump(mode="json"))
        if fresh:
            await notify_due(session, JOB_KIND, row.id)
    return Queued(workspace_id, row.id, fresh)
