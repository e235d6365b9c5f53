"""Phone, shared by voice and SMS: Twilio-style webhooks (also SignalWire's compatibility API).

A webhook is verified with the `twilio` library's `RequestValidator` (HMAC-SHA1 over the full URL
plus the sorted POST parameters) before anything is read from it. The number that was called
(`To`) selects the workspace (`workspacePhoneNumbers`, through a SECURITY DEFINER look-up); the
caller (`From`) is a member when a `channel_user_links` row links that number to them (users have
no verified phone of their own), otherwise perhaps a contact. Only members talk to Neptune; a
contact's or a stranger's call or text is still recorded in the inbox for the team.

Each webhook is a `channel_deliveries` row keyed by the provider's ids (`CallSid` and the call's
step, `MessageSid`), so a retried webhook gets the stored answer instead of a second turn. Turns
run in this process; a turn slower than the provider's patience keeps running in a task of its
own and stores its answer on the delivery, where the next request (a `<Redirect>`) collects it,
on any replica.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

import httpx
import sqlalchemy as sa
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from assistant.channels.common import Sessions, linked_caller
from store.models.channels import ChannelDelivery, DeliveryChannel, DeliveryStatus, LinkProvider
from store.models.communications import Conversation, ConversationChannel, SenderType
from store.models.core import Workspace
from store.models.crm import Contact, Direction
from store.models.orchestration import AgentPendingAction
from store.repositories.channels import DeliveryRepository
from store.repositories.communications import (
    ConversationMessageRepository,
    ConversationRepository,
)
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.context import Caller

log = logging.getLogger(__name__)
T = TypeVar("T")
LEASE = timedelta(minutes=5)
_BACKGROUND: set[asyncio.Task[Any]] = set()


def refusal(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> str | None:
    """Why this webhook is not the provider's (None when it is)."""
    if not signature:
        return "missing X-Twilio-Signature"
    if not RequestValidator(auth_token).validate(url, dict(params), signature):
        return "the X-Twilio-Signature does not match the URL and parameters"
    return None


@dataclass(frozen=True)
class Party:
    """Who is on the other end: a member (who may talk to Neptune) and/or a contact."""

    number: str
    caller: Caller | None
    contact_id: uuid.UUID | None

    @property
    def sender(self) -> tuple[SenderType, uuid.UUID | None]:
        if self.caller is not None:
            return SenderType.USER, self.caller.user_id
        return SenderType.CONTACT, self.contact_id


async def identify(sessions: Sessions, workspace_id: uuid.UUID, number: str,
                   channel: str) -> Party:
    caller = await linked_caller(sessions, workspace_id, LinkProvider.PHONE, number, channel)
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(sessions, scope) as session:
        contact = await session.scalar(
            sa.select(Contact.id).where(Contact.workspace_id == workspace_id,
                                        Contact.phone == number)
            .order_by(Contact.created_at).limit(1))
    return Party(number, caller, contact)


async def workspace_name(sessions: Sessions, workspace_id: uuid.UUID) -> str:
    async with scoped_session(sessions, WorkspaceScope(workspace_id)) as session:
        name = await session.scalar(sa.select(Workspace.name).where(Workspace.id == workspace_id))
    return str(name or "us")


# -- inbox (conversations / conversationMessages) -----------------------------------------------

@dataclass(frozen=True)
class Inbox:
    """One inbox conversation of a call or an SMS exchange, tagged with its thread."""

    sessions: Sessions
    scope: WorkspaceScope
    conversation_id: uuid.UUID
    party: Party

    @classmethod
    async def open(cls, sessions: Sessions, scope: WorkspaceScope, party: Party,
                   channel: ConversationChannel, tag: str, subject: str) -> Inbox:
        async with scoped_session(sessions, scope) as session:
            repo = ConversationRepository(session, scope)
            found = await session.scalar(
                sa.select(Conversation.id).where(
                    Conversation.workspace_id == scope.workspace_id,
                    Conversation.channel == channel, Conversation.tags.contains([tag]))
                .order_by(Conversation.created_at.desc()).limit(1))
            if found is None:
                row = await repo.create(channel=channel, contact_id=party.contact_id,
                                        subject=subject, tags=[tag])
                found = row.id
        return cls(sessions, scope, found, party)

    async def inbound(self, content: str, external_id: str, **meta: Any) -> None:
        sender_type, sender_id = self.party.sender
        await self._add(Direction.INBOUND, content, sender_type, sender_id, external_id, meta)

    async def outbound(self, content: str, external_id: str, **meta: Any) -> None:
        await self._add(Direction.OUTBOUND, content, SenderType.AGENT, None, external_id, meta)

    async def _add(self, direction: Direction, content: str, sender_type: SenderType,
                   sender_id: uuid.UUID | None, external_id: str, meta: dict[str, Any]) -> None:
        if not content.strip():
            return
        async with scoped_session(self.sessions, self.scope) as session:
            if await ConversationMessageRepository(session, self.scope).by_external_id(
                    external_id) is not None:
                return  # a retried webhook: already in the inbox
            await ConversationRepository(session, self.scope).add_message(
                self.conversation_id, direction=direction, content=content,
                sender_type=sender_type, sender_id=sender_id, external_id=external_id,
                meta={"from": self.party.number, **meta}, is_read=direction == Direction.OUTBOUND)


# -- deliveries ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arrival:
    """A webhook's delivery row: `fresh` when this request should do the work."""

    delivery: ChannelDelivery
    fresh: bool

    @property
    def stored(self) -> str | None:
        """The answer given to the first delivery of this webhook, when there is one."""
        twiml = (self.delivery.result or {}).get("twiml")
        return str(twiml) if twiml else None


async def arrive(sessions: Sessions, scope: WorkspaceScope, channel: DeliveryChannel,
                 key: str, payload: Mapping[str, str]) -> Arrival:
    """Record the webhook; the first arrival (or one after a failure) claims it."""
    async with scoped_session(sessions, scope) as session:
        repo = DeliveryRepository(session, scope)
        row, due = await repo.record(channel, key, dict(payload))
        if due:
            claimed = await repo.claim(row.id, lease=LEASE)
            if claimed is not None:
                return Arrival(claimed, True)
        return Arrival(row, False)


async def answered(sessions: Sessions, scope: WorkspaceScope, delivery_id: uuid.UUID,
                   twiml: str, **extra: Any) -> None:
    async with scoped_session(sessions, scope) as session:
        await DeliveryRepository(session, scope).finish(delivery_id, {"twiml": twiml, **extra})


async def failed(sessions: Sessions, scope: WorkspaceScope, delivery_id: uuid.UUID,
                 error: str) -> None:
    async with scoped_session(sessions, scope) as session:
        await DeliveryRepository(session, scope).fail(delivery_id, error[:500], retry_in=None)


async def delivery(sessions: Sessions, scope: WorkspaceScope, channel: DeliveryChannel,
                   key: str) -> ChannelDelivery | None:
    async with scoped_session(sessions, scope) as session:
        return await DeliveryRepository(session, scope).by_key(channel, key)


async def await_answer(sessions: Sessions, scope: WorkspaceScope, channel: DeliveryChannel,
                       key: str, seconds: float, poll: float = 0.2) -> ChannelDelivery | None:
    """The delivery once it is done or failed, waiting at most `seconds`; None if still
    running (it may be running on another replica: the row is what counts)."""
    loop = asyncio.get_running_loop()
    until = loop.time() + seconds
    while True:
        row = await delivery(sessions, scope, channel, key)
        if row is not None and row.status in (DeliveryStatus.DONE, DeliveryStatus.FAILED):
            return row
        if loop.time() >= until:
            return None
        await asyncio.sleep(poll)


async def within(work: Coroutine[Any, Any, T], seconds: float) -> T | None:
    """The work's result if it finishes within `seconds`; otherwise None, and the work goes on
    in the background (it stores its own result)."""
    task = asyncio.create_task(work)
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    try:
        return await asyncio.wait_for(asyncio.shield(task), seconds)
    except TimeoutError:
        return None


async def settle_background() -> None:
    """Wait for turns still running after their webhook answered (tests, shutdown)."""
    while _BACKGROUND:
        await asyncio.gather(*list(_BACKGROUND), return_exceptions=True)


# -- texting later -----------------------------------------------------------------------------

@dataclass(frozen=True)
class MessagingApi:
    """The provider's REST API (Twilio's 2010-04-01 Messages resource, which SignalWire's LaML
    API mirrors), for an answer the webhook could not wait for."""

    account_sid: str
    auth_token: str
    base_url: str

    async def send(self, sender: str, to: str, body: str) -> str:
        """Send one message; returns the provider's message sid."""
        url = (f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}"
               "/Messages.json")
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.post(url, data={"From": sender, "To": to, "Body": body},
                                         auth=(self.account_sid, self.auth_token))
        response.raise_for_status()
        return str(response.json().get("sid", ""))


@dataclass
class Handoff:
    """Who delivers an answer: the webhook's own response, or, once the webhook stopped waiting
    (`late`), a message sent afterwards. Both sides check and set without awaiting in between,
    so exactly one of them delivers it."""

    late: bool = False
    twiml: str | None = None


# -- approvals and wording ------------------------------------------------------------------

async def waiting_approval(sessions: Sessions, caller: Caller,
                           conversation_id: uuid.UUID) -> AgentPendingAction | None:
    """The newest action of this conversation that awaits the caller's decision."""
    async with scoped_session(sessions, caller.scope) as session:
        rows = await AgentPendingActionRepository(session, caller.scope).list_pending(
            conversation_id=conversation_id)
    return rows[-1] if rows else None


_YES = {"yes", "y", "yeah", "yep", "yup", "sure", "ok", "okay", "confirm", "approve",
        "approved", "do it", "go ahead", "1"}
_NO = {"no", "n", "nope", "nah", "cancel", "reject", "stop", "don't", "do not", "2"}


def yes_or_no(text: str) -> bool | None:
    """A confirmation (True), a refusal (False), or neither (None) in a short reply."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    phrase = " ".join(words)
    if not words or len(words) > 4:
        return None
    for candidate in (phrase, words[0]):
        if candidate in _YES:
            return True
        if candidate in _NO:
            return False
    return None


_MARKUP = re.compile(r"[*_`#>|~]+")
_URL = re.compile(r"https?://\S+")


def plain(text: str) -> str:
    """Text without markup, for a voice or a text message."""
    text = re.sub(r"\[([^\]]+)\]\((https?://[^)]+)\)", r"\1 (\2)", text)
    text = _MARKUP.sub("", text)
    text = re.sub(r"^\s*[-•]\s+", "", text, flags=re.MULTILINE)
    return re.sub(r"[ \t]+", " ", text).strip()


def spoken(text: str) -> str:
    """Text for a speech voice: no markup and no URLs (they are never read out)."""
    return re.sub(r"\s+", " ", _URL.sub("", plain(text))).strip()
