"""Slack, outbound: the worker's job for one queued Slack delivery.

`slack_job` claims the delivery (`channel_deliveries`), picks the bot token (the one sealed with
the workspace's Slack integration in `oauth_tokens`, else `NEPTUNE_SLACK_BOT_TOKEN`), finds the
member behind the Slack user (an explicit link, else the email address Slack confirmed for
them), and then:

- a message or `/neptune` command runs a turn in the thread's conversation and answers
  progressively: it posts a placeholder, edits it (`chat.update`) as the text grows, at most
  every `NEPTUNE_SLACK_UPDATE_SECONDS`, and finally shows the answer in mrkdwn with Block Kit
  approval cards for actions that wait for a decision;
- an approval click goes through the one decision door (`assistant.decisions.decide`) as the
  member who clicked, replaces the buttons with who decided what, and streams the continuation
  into the thread.

A delivery that fails before its turn started is tried again later (`retry_at`); progress that
is already visible in Slack (the placeholder's `ts`, a started turn) is saved on the delivery,
so a retry edits the same message and never runs a turn twice. An unmapped Slack user gets an
ephemeral explanation and nothing runs.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from slack_sdk.web.async_client import AsyncWebClient

from assistant.agent_runs import RUNTIME_SERVICE
from assistant.approvals import ApprovalRefused
from assistant.channels.common import Answer, Sessions, caller_by_email, linked_caller
from assistant.channels.slack import (
    WORK_ADAPTER,
    SlackAction,
    SlackCommand,
    SlackMessage,
    conversation_key,
)
from assistant.channels.slack_format import answer_blocks, decided_blocks, escape, mrkdwn
from assistant.decisions import decide
from assistant.deps import RuntimeDeps
from assistant.runtime import Runtime, Turn
from store.errors import Conflict, NotFound
from store.models.admin import Integration, IntegrationProvider, IntegrationStatus, OAuthToken
from store.models.ai import Channel
from store.models.channels import LinkProvider
from store.repositories.ai import ConversationRepository
from store.repositories.channels import DeliveryRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller
from tools.jobs import JobContext

log = logging.getLogger(__name__)
SLACK_SERVICE = "slack"
LEASE = timedelta(minutes=10)
ATTEMPTS = 3
OAUTH_ACCESS = "oauth:access"  # the purpose oauth_tokens' access tokens are sealed for
PLACEHOLDER = "_Working on it…_"
UNMAPPED = ("I can't tell which member of this Neptune workspace you are. Ask an admin to link "
            "your Slack account, or use the same email address in Slack and Neptune.")


class SlackSettings(BaseSettings):
    """`NEPTUNE_SLACK_BOT_TOKEN` (xoxb-..., used when the workspace's Slack integration has no
    token of its own), `NEPTUNE_SLACK_API_URL` (the Web API base URL;
    tests point it at a fake on loopback), `NEPTUNE_SLACK_UPDATE_SECONDS` (how often a growing
    answer is edited)."""

    model_config = SettingsConfigDict(env_prefix="NEPTUNE_SLACK_", extra="ignore", frozen=True)

    bot_token: SecretStr | None = None
    api_url: str = "https://slack.com/api/"
    update_seconds: float = Field(default=1.0, ge=0)


@dataclass
class Progress:
    """What of this delivery is already visible in Slack; saved so a retry continues it."""

    sessions: Sessions
    scope: WorkspaceScope
    delivery_id: uuid.UUID
    state: dict[str, Any] = field(default_factory=dict)

    async def save(self, **values: Any) -> None:
        self.state.update(values)
        async with scoped_session(self.sessions, self.scope) as session:
            await DeliveryRepository(session, self.scope).save_result(self.delivery_id,
                                                                      dict(self.state))


@dataclass
class SlackOut:
    """One delivery's Slack side: the Web API client and where the answer goes."""

    client: AsyncWebClient
    settings: SlackSettings
    channel: str

    async def post(self, text: str, thread_ts: str | None) -> str:
        response = await self.client.chat_postMessage(channel=self.channel, text=text,
                                                      thread_ts=thread_ts, mrkdwn=True)
        return str(response["ts"])

    async def update(self, ts: str, text: str, blocks: list[dict[str, Any]] | None = None
                     ) -> None:
        await self.client.chat_update(channel=self.channel, ts=ts, text=text,
                                      blocks=blocks if blocks is not None else [])

    async def whisper(self, user: str, text: str, thread_ts: str | None) -> None:
        await self.client.chat_postEphemeral(channel=self.channel, user=user, text=text,
                                             thread_ts=thread_ts)


async def slack_job(job: JobContext, workspace_id: uuid.UUID, delivery_id: uuid.UUID) -> None:
    """The worker's handler for `slack` deliveries (safe to call twice: it claims first)."""
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(job.sessions, scope) as session:
        row = await DeliveryRepository(session, scope).claim(delivery_id, lease=LEASE,
                                                             now=job.now)
    if row is None:
        return
    progress = Progress(job.sessions, scope, delivery_id, dict(row.result or {}))
    try:
        deps, settings = _services(job)
        work = WORK_ADAPTER.validate_python(row.payload)
        token = await bot_token(deps, settings, scope, work.team)
        client = AsyncWebClient(token=token, base_url=settings.api_url)
        await _handle(deps, SlackOut(client, settings, work.channel), scope, work, progress)
    except Exception as error:
        await _failed(job, scope, delivery_id, row.attempts, progress, error)
        return
    async with scoped_session(job.sessions, scope) as session:
        await DeliveryRepository(session, scope).finish(delivery_id, dict(progress.state))


def _services(job: JobContext) -> tuple[RuntimeDeps, SlackSettings]:
    deps = job.services.get(RUNTIME_SERVICE)
    if not isinstance(deps, RuntimeDeps):
        raise RuntimeError(f"Slack replies need RuntimeDeps in services[{RUNTIME_SERVICE!r}]")
    settings = job.services.get(SLACK_SERVICE) or SlackSettings()
    if not isinstance(settings, SlackSettings):
        raise RuntimeError(f"services[{SLACK_SERVICE!r}] must be SlackSettings")
    return deps, settings


async def bot_token(deps: RuntimeDeps, settings: SlackSettings, scope: WorkspaceScope,
                    team: str) -> str:
    """The bot token for this team: the one stored (sealed) with the workspace's Slack
    integration when there is one and a keyring to open it, else `NEPTUNE_SLACK_BOT_TOKEN`."""
    if deps.keyring is not None:
        async with scoped_session(deps.database.sessions, scope) as session:
            sealed = await session.scalar(
                sa.select(OAuthToken.access_token_encrypted)
                .join(Integration, sa.and_(Integration.workspace_id == OAuthToken.workspace_id,
                                           Integration.id == OAuthToken.integration_id))
                .where(Integration.workspace_id == scope.workspace_id,
                       Integration.provider == IntegrationProvider.SLACK,
                       Integration.account_id == team,
                       Integration.status == IntegrationStatus.ACTIVE).limit(1))
        if sealed is not None:
            return deps.keyring.decrypt_text(sealed, scope.workspace_id, OAUTH_ACCESS)
    if settings.bot_token is None:
        raise RuntimeError("no Slack bot token: connect the Slack integration with a token, "
                           "or set NEPTUNE_SLACK_BOT_TOKEN")
    return settings.bot_token.get_secret_value()


async def _failed(job: JobContext, scope: WorkspaceScope, delivery_id: uuid.UUID,
                  attempts: int, progress: Progress, error: Exception) -> None:
    """Try again later, unless a turn already started (never twice) or attempts are spent."""
    log.error("slack delivery %s failed (attempt %d): %r", delivery_id, attempts, error)
    final = bool(progress.state.get("turn_started")) or attempts >= ATTEMPTS
    async with scoped_session(job.sessions, scope) as session:
        await DeliveryRepository(session, scope).fail(
            delivery_id, repr(error)[:500], now=job.now,
            retry_in=None if final else timedelta(seconds=15 * attempts))


async def _handle(deps: RuntimeDeps, out: SlackOut, scope: WorkspaceScope,
                  work: SlackMessage | SlackAction | SlackCommand, progress: Progress) -> None:
    if progress.state.get("turn_started"):
        # A previous attempt started the turn and then failed: never run it twice.
        if ts := progress.state.get("reply_ts"):
            await out.update(ts, "Sorry, something went wrong while answering. Please ask again.")
        return
    caller = await slack_caller(deps.database.sessions, out.client, scope.workspace_id,
                                work.user)
    if caller is None:
        thread = work.thread_ts if isinstance(work, SlackAction | SlackMessage) else None
        await out.whisper(work.user, UNMAPPED, thread)
        progress.state["unmapped"] = True
        return
    if isinstance(work, SlackAction):
        await _decide(deps, out, caller, work, progress)
    elif isinstance(work, SlackCommand):
        await _command(deps, out, caller, work, progress)
    else:
        await _message(deps, out, caller, work, progress)


async def slack_caller(sessions: Sessions, client: AsyncWebClient, workspace_id: uuid.UUID,
                       user: str) -> Caller | None:
    """The member a Slack user is: an explicit link, else Slack's confirmed email address."""
    caller = await linked_caller(sessions, workspace_id, LinkProvider.SLACK, user, "slack")
    if caller is not None:
        return caller
    info = (await client.users_info(user=user)).get("user") or {}
    if info.get("deleted") or info.get("is_bot") or info.get("is_email_confirmed") is False:
        return None
    email = (info.get("profile") or {}).get("email")
    if not isinstance(email, str) or not email:
        return None
    return await caller_by_email(sessions, workspace_id, email, "slack")


async def _message(deps: RuntimeDeps, out: SlackOut, caller: Caller, work: SlackMessage,
                   progress: Progress) -> None:
    thread = work.reply_thread
    if not work.text:
        await out.post("Hi! Ask me anything about your workspace.", thread)
        return
    key = conversation_key(work.team, work.channel, thread, work.user)
    await _converse(deps, out, caller, key, work.text, thread, progress)


async def _command(deps: RuntimeDeps, out: SlackOut, caller: Caller, work: SlackCommand,
                   progress: Progress) -> None:
    """`/neptune <question>`: the question becomes a thread of its own, answered inside it."""
    if not work.text:
        await out.whisper(work.user, "Ask me something: `/neptune how many open deals?`", None)
        return
    root = progress.state.get("root_ts")
    if root is None:
        root = await out.post(f"<@{work.user}> asked: {escape(work.text)}", None)
        await progress.save(root_ts=root)
    key = conversation_key(work.team, work.channel, root, work.user)
    await _converse(deps, out, caller, key, work.text, root, progress)


async def _converse(deps: RuntimeDeps, out: SlackOut, caller: Caller, key: str, text: str,
                    thread: str | None, progress: Progress) -> None:
    conversation_id = await open_conversation(deps, caller, key, text)
    reply = progress.state.get("reply_ts") or await out.post(PLACEHOLDER, thread)
    await progress.save(reply_ts=reply, conversation_id=str(conversation_id))
    turn = await Runtime(deps).send(caller, conversation_id, text)
    await progress.save(turn_started=True)
    await stream_turn(out, reply, turn)


async def open_conversation(deps: RuntimeDeps, caller: Caller, key: str, text: str) -> uuid.UUID:
    """The Neptune conversation for this Slack thread and person, created on first use."""
    async with scoped_session(deps.database.sessions, caller.scope) as session:
        row = await ConversationRepository(session, caller.scope).open_for_key(
            key, channel=Channel.SLACK, user_id=caller.user_id, title=text[:80])
    if row.user_id != caller.user_id:  # the key names the person; never answer as another
        raise RuntimeError(f"conversation {row.id} belongs to another member")
    return row.id


async def stream_turn(out: SlackOut, ts: str, turn: Turn) -> Answer:
    """Show the turn in the message `ts` as it grows, then its final form with approvals."""
    answer, shown, last = Answer(), "", time.monotonic()
    async with turn:
        async for event in turn:
            answer.take(event)
            due = time.monotonic() - last >= out.settings.update_seconds
            if due and answer.text and answer.text != shown:
                shown, last = answer.text, time.monotonic()
                await out.update(ts, mrkdwn(shown) + " …")
        await turn.wait()
    final = final_text(answer)
    await out.update(ts, final, answer_blocks(final, answer.approvals))
    return answer


def final_text(answer: Answer) -> str:
    if answer.text:
        return mrkdwn(answer.text)
    if answer.error:
        return f"Sorry, I couldn't finish that: {escape(answer.error)}"
    return "" if answer.approvals else "_(no answer)_"


async def _decide(deps: RuntimeDeps, out: SlackOut, caller: Caller, work: SlackAction,
                  progress: Progress) -> None:
    thread = work.thread_ts or work.message_ts
    try:
        decision = await decide(deps, caller, work.pending_action_id, approve=work.approve)
    except (ApprovalRefused, NotFound) as refused:
        await out.whisper(work.user, f"You can't decide this action: {refused}", thread)
        return
    except Conflict:
        await out.whisper(work.user, "This action was already decided or has expired.", thread)
        return
    await progress.save(turn_started=True)
    verb = ":white_check_mark: Approved" if work.approve else ":x: Rejected"
    blocks = decided_blocks(work.message_blocks, str(work.pending_action_id),
                            f"{verb} by <@{work.user}>")
    await out.update(work.message_ts, work.message_text or verb, blocks)
    if decision.turn is not None:
        reply = await out.post(PLACEHOLDER, thread)
        await progress.save(reply_ts=reply)
        await stream_turn(out, reply, decision.turn)
    elif decision.report is not None:
        await out.post(mrkdwn(decision.report.text or decision.report.status), thread)
    elif decision.resolution is not None:
        outcome = decision.resolution.outcome
        await out.post(f"{verb}: `{decision.tool}` {escape(outcome.status)}.", thread)
