"""The customer inbox: list and read conversations, reply to the customer, assign a teammate.

A reply is handed to a `Sender` (the outbox unless the runtime configured another) and appended
to its inbox conversation in the same transaction, so the inbox shows exactly what went to
delivery. The conversation message keeps the call's idempotency key in its `meta`: a retried
or resumed reply finds it and returns it, and neither the outbox nor the inbox gets a second
copy.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, Field, model_validator

from store.models.communications import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    NotificationType,
    SenderType,
)
from store.models.crm import Contact, Direction
from store.models.neptune import OutboundChannel, OutboundStatus
from store.repositories.communications import (
    ConversationMessageRepository,
    ConversationRepository,
    NotificationRepository,
)
from store.repositories.crm import ContactRepository
from tools.audit import record_change, snapshot
from tools.communications.common import ARGS, ROW
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import Risk, tool
from tools.senders import OutgoingMessage, contact_address, sender_for, sending_number
from tools.workspace import require_active_member

REPLY_CHANNELS = {
    ConversationChannel.EMAIL: OutboundChannel.EMAIL,
    ConversationChannel.SMS: OutboundChannel.SMS,
    ConversationChannel.WHATSAPP: OutboundChannel.WHATSAPP,
}


# -- conversation output -------------------------------------------------------------------------


class ConversationOut(BaseModel):
    id: uuid.UUID
    channel: ConversationChannel
    status: ConversationStatus
    subject: str | None
    contact_id: uuid.UUID | None
    contact_name: str | None
    assigned_to: uuid.UUID | None
    last_message_at: datetime
    message_count: int
    unread_count: int
    awaiting_reply: bool = Field(description="The customer spoke last.")


def _awaiting_reply(row: Conversation) -> bool:
    inbound, outbound = row.last_inbound_at, row.last_outbound_at
    return inbound is not None and (outbound is None or outbound < inbound)


def _conversation_out(row: Conversation, contact: Contact | None) -> ConversationOut:
    return ConversationOut(
        id=row.id, channel=row.channel, status=row.status, subject=row.subject,
        contact_id=row.contact_id, contact_name=contact.full_name if contact else None,
        assigned_to=row.assigned_to, last_message_at=row.last_message_at,
        message_count=row.message_count, unread_count=row.unread_count,
        awaiting_reply=_awaiting_reply(row),
    )


async def _contacts_of(ctx: ToolContext, rows: list[Conversation]) -> dict[uuid.UUID, Contact]:
    ids = {r.contact_id for r in rows if r.contact_id is not None}
    contacts = await ContactRepository(ctx.session, ctx.scope).get_many(ids)
    return {c.id: c for c in contacts}


# -- inbox ---------------------------------------------------------------------------------------


class ListInboxArgs(BaseModel):
    model_config = ARGS

    status: ConversationStatus = Field(
        default=ConversationStatus.ACTIVE,
        description="Which box: active (the inbox), archived, closed or spam.",
    )
    channel: ConversationChannel | None = Field(
        default=None, description="Only this channel, e.g. 'sms' or 'email'."
    )
    mine_only: bool = Field(default=False, description="Only conversations assigned to you.")
    assignee_id: uuid.UUID | None = Field(
        default=None, description="Only conversations assigned to this member."
    )
    contact_id: uuid.UUID | None = Field(
        default=None, description="Only conversations with this contact."
    )
    unread_only: bool = Field(default=False, description="Only conversations with unread messages.")
    limit: int = Field(default=20, ge=1, le=50, description="Most conversations to return (1-50).")
    cursor: str | None = Field(
        default=None, max_length=500, description="next_cursor of a previous call, for more."
    )

    @model_validator(mode="after")
    def _one_assignee(self) -> Self:
        if self.mine_only and self.assignee_id is not None:
            raise ValueError("use either mine_only or assignee_id, not both")
        return self


class InboxPage(BaseModel):
    conversations: list[ConversationOut]
    has_more: bool
    next_cursor: str | None


@tool(
    risk=Risk.LOW,
    examples=("what's in my inbox?", "show unread SMS conversations",
              "which customers are waiting for an answer?"),
)
async def list_inbox_conversations(ctx: ToolContext, args: ListInboxArgs) -> InboxPage:
    """List customer conversations (email, SMS, WhatsApp, chat ...), most recent activity first.
    `awaiting_reply` marks those where the customer spoke last. Open one with
    get_inbox_conversation to read its messages."""
    if args.contact_id is not None:
        await ContactRepository(ctx.session, ctx.scope).get(args.contact_id)
    if args.assignee_id is not None:
        await require_active_member(ctx, args.assignee_id)
    assignee = ctx.caller.user_id if args.mine_only else args.assignee_id
    page = await ConversationRepository(ctx.session, ctx.scope).inbox(
        status=args.status, channel=args.channel, assigned_to=assignee,
        contact_id=args.contact_id, unread_only=args.unread_only, limit=args.limit,
        cursor=args.cursor,
    )
    contacts = await _contacts_of(ctx, page.items)
    return InboxPage(
        conversations=[_conversation_out(c, contacts.get(c.contact_id) if c.contact_id else None)
                       for c in page.items],
        has_more=page.next_cursor is not None, next_cursor=page.next_cursor,
    )


class GetConversationArgs(BaseModel):
    model_config = ARGS

    conversation_id: uuid.UUID = Field(description="The conversation's id.")
    message_limit: int = Field(
        default=20, ge=1, le=100, description="How many of the latest messages to show (1-100)."
    )


class ContactBrief(BaseModel):
    id: uuid.UUID
    name: str
    email: str | None
    phone: str | None
    company: str | None


class MessageOut(BaseModel):
    model_config = ROW

    id: uuid.UUID
    direction: Direction
    sender_type: SenderType
    content: str
    sent_at: datetime
    is_read: bool


class ConversationDetail(BaseModel):
    conversation: ConversationOut
    contact: ContactBrief | None
    messages: list[MessageOut] = Field(description="The latest messages, oldest first.")
    earlier_messages: int = Field(description="Older messages not shown.")


async def _contact(ctx: ToolContext, conversation: Conversation) -> Contact | None:
    if conversation.contact_id is None:
        return None
    return await ContactRepository(ctx.session, ctx.scope).find(conversation.contact_id)


@tool(
    risk=Risk.LOW,
    examples=("open the conversation with Acme", "read the latest messages from Dana",
              "what did the customer say in that SMS thread?"),
)
async def get_inbox_conversation(ctx: ToolContext, args: GetConversationArgs) -> ConversationDetail:
    """Read one customer conversation: who it is with, its state, and its latest messages
    (oldest first). Reading does not mark messages as read."""
    conversation = await ConversationRepository(ctx.session, ctx.scope).get(args.conversation_id)
    page = await ConversationMessageRepository(ctx.session, ctx.scope).thread(
        conversation.id, limit=args.message_limit, newest_first=True
    )
    contact = await _contact(ctx, conversation)
    brief = None if contact is None else ContactBrief(
        id=contact.id, name=contact.full_name, email=contact.email, phone=contact.phone,
        company=contact.company,
    )
    return ConversationDetail(
        conversation=_conversation_out(conversation, contact), contact=brief,
        messages=[MessageOut.model_validate(m) for m in reversed(page.items)],
        earlier_messages=max(0, conversation.message_count - len(page.items)),
    )


# -- replying ------------------------------------------------------------------------------------


class ReplyArgs(BaseModel):
    model_config = ARGS

    conversation_id: uuid.UUID = Field(description="The conversation to answer.")
    body: str = Field(
        min_length=1, max_length=4000,
        description="The reply text, sent as written. SMS over 160 characters is split in parts.",
    )
    subject: str | None = Field(
        default=None, min_length=1, max_length=200,
        description="Email only: the subject line; defaults to 'Re: <conversation subject>'.",
    )


class ReplyResult(BaseModel):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    outbound_message_id: uuid.UUID
    channel: OutboundChannel
    recipient: str
    status: OutboundStatus = Field(description="queued: handed to delivery, not yet delivered.")
    already_sent: bool = Field(default=False, description="An earlier attempt already sent it.")


async def _earlier_reply(ctx: ToolContext, conversation_id: uuid.UUID) -> ReplyResult | None:
    messages = ConversationMessageRepository(ctx.session, ctx.scope)
    row = await ctx.session.scalar(messages.select().where(
        ConversationMessage.conversation_id == conversation_id,
        ConversationMessage.meta["idempotency_key"].astext == ctx.idempotency_key,
    ))
    if row is None:
        return None
    return ReplyResult.model_validate({**row.meta, "conversation_id": conversation_id,
                                       "message_id": row.id, "already_sent": True})


def _reply_channel(conversation: Conversation, args: ReplyArgs) -> OutboundChannel:
    channel = REPLY_CHANNELS.get(conversation.channel)
    if channel is None:
        raise ToolFailed(
            f"{conversation.channel} conversations cannot be answered from here; "
            "only email, SMS and WhatsApp replies can be sent"
        )
    if conversation.status == ConversationStatus.SPAM:
        raise ToolFailed("this conversation is marked as spam; no reply was sent")
    if args.subject is not None and channel != OutboundChannel.EMAIL:
        raise RetryableToolError(f"subject is only for email; this is a {channel} conversation")
    return channel


async def _recipient(ctx: ToolContext, conversation: Conversation, channel: OutboundChannel) -> str:
    contact = await _contact(ctx, conversation)
    if contact is None:
        raise ToolFailed("this conversation has no contact, so there is no one to send to")
    return contact_address(contact, channel)


def _subject(conversation: Conversation, args: ReplyArgs) -> str | None:
    if args.subject is not None:
        return args.subject
    if conversation.subject:
        return conversation.subject if conversation.subject.startswith("Re:") else (
            f"Re: {conversation.subject}")
    return None


@tool(
    risk=Risk.HIGH, title="Reply to the customer in conversation {conversation_id}",
    examples=("reply to Dana: thanks, the fix is live", "text back that we'll call tomorrow",
              "answer the pricing email with our annual price"),
)
async def reply_to_conversation(ctx: ToolContext, args: ReplyArgs) -> ReplyResult:
    """Send a reply to the customer in an inbox conversation, on the conversation's own channel
    (email, SMS or WhatsApp), to the contact's email address or phone number. The message is
    queued for delivery and added to the conversation. Needs approval; the text is sent exactly
    as written, so write the final wording."""
    conversations = ConversationRepository(ctx.session, ctx.scope)
    conversation = await conversations.get(args.conversation_id)
    earlier = await _earlier_reply(ctx, conversation.id)
    if earlier is not None:
        return earlier
    channel = _reply_channel(conversation, args)
    outgoing = OutgoingMessage(
        channel=channel, recipient=await _recipient(ctx, conversation, channel), body=args.body,
        subject=_subject(conversation, args) if channel == OutboundChannel.EMAIL else None,
        sender=await sending_number(ctx.session, ctx.scope, channel), related_type="conversation",
        related_id=conversation.id, idempotency_key=ctx.idempotency_key,
    )
    receipt = await sender_for(ctx).send(ctx.session, ctx.scope, outgoing)
    meta = {"idempotency_key": ctx.idempotency_key, "channel": channel.value,
            "outbound_message_id": str(receipt.outbound_message_id),
            "recipient": receipt.recipient, "status": receipt.status.value}
    message = await conversations.add_message(
        conversation.id, direction=Direction.OUTBOUND, content=args.body,
        sender_type=SenderType.USER, sender_id=ctx.caller.user_id, meta=meta,
    )
    await _audit_reply(ctx, message, meta)
    return ReplyResult(
        conversation_id=conversation.id, message_id=message.id,
        outbound_message_id=receipt.outbound_message_id, channel=channel,
        recipient=receipt.recipient, status=receipt.status, already_sent=receipt.repeated,
    )


async def _audit_reply(
    ctx: ToolContext, message: ConversationMessage, meta: dict[str, Any]
) -> None:
    await record_change(ctx, "send", "outbound_message", meta["outbound_message_id"], after={
        "channel": meta["channel"], "recipient": meta["recipient"], "status": meta["status"],
        "related_type": "conversation", "related_id": message.conversation_id,
    })
    await record_change(ctx, "create", "conversation_message", message.id, after=snapshot(
        message, ["conversation_id", "direction", "sender_type", "content"]))


# -- assignment ----------------------------------------------------------------------------------


class AssignArgs(BaseModel):
    model_config = ARGS

    conversation_id: uuid.UUID = Field(description="The conversation to assign.")
    assignee_id: uuid.UUID | None = Field(
        default=None, description="The member to assign it to; omit to take it yourself."
    )
    unassign: bool = Field(default=False, description="Remove the assignee instead.")

    @model_validator(mode="after")
    def _either(self) -> Self:
        if self.unassign and self.assignee_id is not None:
            raise ValueError("use either assignee_id or unassign, not both")
        return self


class AssignResult(BaseModel):
    conversation: ConversationOut
    previous_assignee: uuid.UUID | None
    notified: bool = Field(description="The new assignee got a notification.")


@tool(
    risk=Risk.MEDIUM, title="Assign conversation {conversation_id}",
    examples=("assign the Acme thread to Priya", "I'll take this conversation",
              "unassign the refund conversation"),
)
async def assign_conversation(ctx: ToolContext, args: AssignArgs) -> AssignResult:
    """Assign an inbox conversation to a team member (yourself when no one is named), or
    unassign it. A member other than you is notified of the assignment."""
    conversations = ConversationRepository(ctx.session, ctx.scope)
    conversation = await conversations.get(args.conversation_id)
    target = None if args.unassign else (args.assignee_id or ctx.caller.user_id)
    if target is not None:
        await require_active_member(ctx, target)
    previous = conversation.assigned_to
    if target != previous:
        conversation = await conversations.assign(conversation.id, target)
        await record_change(ctx, "update", "conversation", conversation.id,
                            before={"assigned_to": previous}, after={"assigned_to": target})
    notified = target is not None and target not in (previous, ctx.caller.user_id)
    if notified and target is not None:
        await _notify_assignment(ctx, conversation, target)
    contact = await _contact(ctx, conversation)
    return AssignResult(conversation=_conversation_out(conversation, contact),
                        previous_assignee=previous, notified=notified)


async def _notify_assignment(ctx: ToolContext, conversation: Conversation, to: uuid.UUID) -> None:
    about = conversation.subject or f"{conversation.channel} conversation"
    row = await NotificationRepository(ctx.session, ctx.scope).create(
        user_id=to, type=NotificationType.ASSIGNMENT, title=f"Assigned to you: {about}",
        link=f"/inbox/{conversation.id}",
        data={"conversation_id": str(conversation.id), "from_user_id": str(ctx.caller.user_id),
              "idempotency_key": ctx.idempotency_key},
    )
    await record_change(ctx, "create", "notification", row.id,
                        after=snapshot(row, ["user_id", "type", "title", "link"]))
