"""How a tool hands an SMS, email or WhatsApp message to delivery.

Tools never talk to a provider. They build an `OutgoingMessage` and give it to a `Sender`; the
default `OutboxSender` writes it to `outbound_messages` (status `queued`), where a delivery
worker picks it up. The runtime may put another implementation in `ToolContext.services` under
`SENDER_SERVICE` (a test double, or a provider sender later), and `sender_for` returns it.

A send carries the tool call's idempotency key, so a retried or resumed call finds the first
outbox row instead of queueing the message twice; the receipt says when that happened.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import InvalidArgument
from store.models.communications import to_e164
from store.models.crm import Contact
from store.models.neptune import OutboundChannel, OutboundStatus
from store.repositories.communications import PhoneNumberRepository
from store.repositories.neptune import OutboundMessageRepository
from store.tenancy import WorkspaceScope
from tools.context import ToolContext
from tools.errors import ToolFailed

SENDER_SERVICE = "sender"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One message to one recipient. `sender` is the from-address or from-number, when the
    channel needs one; `related_*` names the record the message is about (a conversation, an
    invoice) so its history can list what was sent."""

    channel: OutboundChannel
    recipient: str
    body: str
    subject: str | None = None
    sender: str | None = None
    related_type: str | None = None
    related_id: uuid.UUID | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """What a sender did with a message. `repeated` is True when the idempotency key had
    already been sent, so nothing new went out."""

    outbound_message_id: uuid.UUID
    channel: OutboundChannel
    recipient: str
    status: OutboundStatus
    repeated: bool = False


@runtime_checkable
class Sender(Protocol):
    """Hands messages to delivery, inside the caller's transaction and workspace."""

    async def send(
        self, session: AsyncSession, scope: WorkspaceScope, message: OutgoingMessage
    ) -> SendReceipt: ...


def normalize_recipient(channel: OutboundChannel, recipient: str) -> str:
    """The recipient as the channel needs it: an email address, or an E.164 number for SMS and
    WhatsApp. Anything else is an InvalidArgument naming the problem."""
    value = recipient.strip()
    if channel == OutboundChannel.EMAIL:
        if not _EMAIL.match(value):
            raise InvalidArgument(f"{recipient!r} is not an email address")
        return value
    return to_e164(value)


class OutboxSender:
    """The default sender: queue the message in the workspace's outbox."""

    async def send(
        self, session: AsyncSession, scope: WorkspaceScope, message: OutgoingMessage
    ) -> SendReceipt:
        outbox = OutboundMessageRepository(session, scope)
        earlier = None
        if message.idempotency_key is not None:
            page = await outbox.list(idempotency_key=message.idempotency_key, limit=1)
            earlier = page.items[0] if page.items else None
        row = earlier or await outbox.enqueue(
            message.channel, normalize_recipient(message.channel, message.recipient),
            message.body, subject=message.subject, sender=message.sender,
            related_type=message.related_type, related_id=message.related_id,
            idempotency_key=message.idempotency_key,
        )
        return SendReceipt(
            outbound_message_id=row.id, channel=row.channel, recipient=row.recipient,
            status=row.status, repeated=earlier is not None,
        )


def contact_address(contact: Contact, channel: OutboundChannel) -> str:
    """Where `channel` reaches the contact: their email, or their phone as E.164. A missing or
    unusable address is a ToolFailed: the contact must be fixed, not the call."""
    address = contact.email if channel == OutboundChannel.EMAIL else contact.phone
    who = contact.full_name or "the contact"
    if not address:
        what = "email address" if channel == OutboundChannel.EMAIL else "phone number"
        raise ToolFailed(f"{who} has no {what}; add one to the contact first")
    try:
        return normalize_recipient(channel, address)
    except InvalidArgument as exc:
        raise ToolFailed(f"cannot send to {who}: {exc}; correct the contact first") from exc


async def sending_number(
    session: AsyncSession, scope: WorkspaceScope, channel: OutboundChannel
) -> str | None:
    """The workspace number SMS and WhatsApp messages go out from (its first active
    SMS-capable number); email needs none."""
    if channel == OutboundChannel.EMAIL:
        return None
    numbers = await PhoneNumberRepository(session, scope).with_capability("sms")
    if not numbers:
        raise ToolFailed("the workspace has no active SMS-capable phone number to send from")
    return numbers[0].phone_number


def sender_for(ctx: ToolContext) -> Sender:
    """The sender the runtime configured for this call, or the outbox."""
    return sender_in(ctx.services)


def sender_in(services: Mapping[str, Any]) -> Sender:
    """The sender among `services` (a tool call's or a worker job's), or the outbox."""
    configured = services.get(SENDER_SERVICE)
    if configured is None:
        return OutboxSender()
    if not isinstance(configured, Sender):
        raise TypeError(f"services[{SENDER_SERVICE!r}] is not a Sender: {configured!r}")
    return configured
