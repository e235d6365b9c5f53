"""Communications tools: the customer inbox (read, reply, assign), team chat, notifications and
the workspace's phone numbers.

A reply is handed to a `Sender` (the outbox unless the runtime configured another) and appended
to its inbox conversation in the same transaction, so the inbox shows exactly what went to
delivery. The conversation message keeps the call's idempotency key in its `meta`: a retried
or resumed reply finds it and returns it, and neither the outbox nor the inbox gets a second
copy. Notifications keep the key in their `data` for the same reason; team messages, which have
no metadata column, are found again through their audit row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any, Self

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.models.communications import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    Notification,
    NotificationType,
    PhoneNumberStatus,
    SenderType,
    TeamChannelType,
    TeamMessage,
    WorkspacePhoneNumber,
)
from store.models.crm import Contact, Direction
from store.models.neptune import OutboundChannel, OutboundStatus
from store.repositories.communications import (
    ConversationMessageRepository,
    ConversationRepository,
    NotificationRepository,
    PhoneNumberRepository,
    TeamChannelRepository,
    TeamMessageRepository,
)
from store.repositories.core import WorkspaceMemberRepository
from store.repositories.crm import ContactRepository
from tools.admin import earlier_change
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import Risk, tool
from tools.senders import OutgoingMessage, contact_address, sender_for, sending_number

ARGS = ConfigDict(frozen=True, extra="forbid")
ROW = ConfigDict(from_attributes=True)
REPLY_CHANNELS = {
    ConversationChannel.EMAIL: OutboundChannel.EMAIL,
    ConversationChannel.SMS: OutboundChannel.SMS,
    ConversationChannel.WHATSAPP: OutboundChannel.WHATSAPP,
}


# -- shared output -------------------------------------------------------------------------------


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


async def _require_member(ctx: ToolContext, member_id: uuid.UUID) -> None:
    """Refuse a user id that is not an active member of this workspace (another workspace's
    member looks exactly like a missing one)."""
    if await WorkspaceMemberRepository(ctx.session, ctx.scope).for_user(member_id) is None:
        raise RetryableToolError(
            f"no active member with id {member_id} in this workspace; list_team_members gives ids"
        )


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
        await _require_member(ctx, args.assignee_id)
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
        await _require_member(ctx, target)
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


# -- team chat -----------------------------------------------------------------------------------


class ListTeamChannelsArgs(BaseModel):
    model_config = ARGS

    limit: int = Field(default=20, ge=1, le=50, description="Most channels to return (1-50).")


class TeamChannelOut(BaseModel):
    model_config = ROW

    id: uuid.UUID
    name: str
    type: TeamChannelType
    description: str | None
    is_private: bool
    member_count: int
    last_message_at: datetime | None


class TeamChannelList(BaseModel):
    channels: list[TeamChannelOut]
    total: int


@tool(
    risk=Risk.LOW,
    examples=("which team channels do we have?", "what's the id of #sales?"),
)
async def list_team_channels(ctx: ToolContext, args: ListTeamChannelsArgs) -> TeamChannelList:
    """List the team's chat channels (not archived), most recently active first. Use it to
    find a channel id for post_team_message."""
    channels = await TeamChannelRepository(ctx.session, ctx.scope).visible()
    return TeamChannelList(
        channels=[TeamChannelOut.model_validate(c) for c in channels[:args.limit]],
        total=len(channels),
    )


class PostTeamMessageArgs(BaseModel):
    model_config = ARGS

    channel_id: uuid.UUID = Field(description="The team channel, from list_team_channels.")
    content: str = Field(min_length=1, max_length=4000, description="The message, as written.")
    reply_to_message_id: uuid.UUID | None = Field(
        default=None, description="Post as a thread reply to this top-level message."
    )


class TeamMessageResult(BaseModel):
    message_id: uuid.UUID
    channel_id: uuid.UUID
    channel_name: str
    parent_message_id: uuid.UUID | None
    sent_at: datetime
    already_posted: bool = False


async def _team_result(ctx: ToolContext, message: TeamMessage, repeated: bool) -> TeamMessageResult:
    channel = await TeamChannelRepository(ctx.session, ctx.scope).get(message.channel_id)
    return TeamMessageResult(
        message_id=message.id, channel_id=channel.id, channel_name=channel.name,
        parent_message_id=message.parent_message_id, sent_at=message.sent_at,
        already_posted=repeated,
    )


@tool(
    risk=Risk.MEDIUM, title="Post in team channel {channel_id}",
    examples=("tell #sales we closed Globex", "post in general that the office is closed Monday",
              "reply in the thread that I'll take it"),
)
async def post_team_message(ctx: ToolContext, args: PostTeamMessageArgs) -> TeamMessageResult:
    """Post a message as you in an internal team channel (or as a reply in a thread). This is
    team chat, never seen by customers; to answer a customer use reply_to_conversation."""
    messages = TeamMessageRepository(ctx.session, ctx.scope)
    earlier = await earlier_change(ctx, "create", "team_message")
    if earlier is not None:
        return await _team_result(ctx, await messages.get(uuid.UUID(earlier)), True)
    message = await messages.post(
        args.channel_id, ctx.caller.user_id, args.content,
        parent_message_id=args.reply_to_message_id,
    )
    await record_change(ctx, "create", "team_message", message.id, after=snapshot(
        message, ["channel_id", "parent_message_id", "content"]))
    return await _team_result(ctx, message, False)


# -- notifications -------------------------------------------------------------------------------


class NotifyArgs(BaseModel):
    model_config = ARGS

    recipient_id: uuid.UUID | None = Field(
        default=None, description="The member to notify (from list_team_members); omit for you."
    )
    title: str = Field(min_length=1, max_length=200, description="The headline they will see.")
    message: str | None = Field(default=None, max_length=2000, description="Optional details.")
    type: NotificationType = Field(
        default=NotificationType.INFO,
        description="info, success, warning, error, mention, assignment or reminder.",
    )
    link: str | None = Field(
        default=None, max_length=500, description="Where it leads, e.g. '/crm/deals/<id>'."
    )


class NotificationResult(BaseModel):
    notification_id: uuid.UUID
    recipient_id: uuid.UUID
    title: str
    created_at: datetime
    already_sent: bool = False


def _notification_result(row: Notification, repeated: bool) -> NotificationResult:
    return NotificationResult(notification_id=row.id, recipient_id=row.user_id, title=row.title,
                              created_at=row.created_at, already_sent=repeated)


@tool(
    risk=Risk.MEDIUM, title="Notify: {title}",
    examples=("let Priya know the contract is signed", "remind me to follow up with Acme",
              "notify Sam that the invoice bounced"),
)
async def notify_user(ctx: ToolContext, args: NotifyArgs) -> NotificationResult:
    """Send an in-app notification to a team member (or to yourself, as a reminder). It appears
    in their notification list; nothing is emailed or texted."""
    notifications = NotificationRepository(ctx.session, ctx.scope)
    earlier = await ctx.session.scalar(notifications.select().where(
        Notification.data["idempotency_key"].astext == ctx.idempotency_key))
    if earlier is not None:
        return _notification_result(earlier, True)
    recipient = args.recipient_id or ctx.caller.user_id
    await _require_member(ctx, recipient)
    row = await notifications.create(
        user_id=recipient, type=args.type, title=args.title, message=args.message,
        link=args.link, data={"from_user_id": str(ctx.caller.user_id),
                              "idempotency_key": ctx.idempotency_key},
    )
    await record_change(ctx, "create", "notification", row.id,
                        after=snapshot(row, ["user_id", "type", "title", "message", "link"]))
    return _notification_result(row, False)


# -- phone numbers -------------------------------------------------------------------------------


class ListPhoneNumbersArgs(BaseModel):
    model_config = ARGS

    status: PhoneNumberStatus | None = Field(
        default=None, description="Only numbers in this state, e.g. 'active'."
    )
    capability: str | None = Field(
        default=None, pattern="^(voice|sms|mms)$",
        description="Only numbers that can do this: voice, sms or mms.",
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most numbers to return (1-50).")


class PhoneNumberOut(BaseModel):
    id: uuid.UUID
    phone_number: str
    friendly_name: str | None
    provider: str
    status: PhoneNumberStatus
    voice: bool
    sms: bool
    mms: bool
    monthly_price: Decimal = Field(description="Major units of `currency`, e.g. 1.15.")
    currency: str


class PhoneNumberList(BaseModel):
    numbers: list[PhoneNumberOut]
    total: int


def _number_out(row: WorkspacePhoneNumber) -> PhoneNumberOut:
    caps = row.capabilities
    return PhoneNumberOut(
        id=row.id, phone_number=row.phone_number, friendly_name=row.friendly_name,
        provider=row.provider.value, status=row.status, voice=bool(caps.get("voice")),
        sms=bool(caps.get("sms")), mms=bool(caps.get("mms")),
        monthly_price=Decimal(row.monthly_price_cents) / 100, currency=row.currency,
    )


@tool(
    risk=Risk.LOW,
    examples=("what phone numbers do we have?", "which number can send texts?"),
)
async def list_phone_numbers(ctx: ToolContext, args: ListPhoneNumbersArgs) -> PhoneNumberList:
    """List the workspace's phone numbers with what each can do (voice, SMS, MMS), their status
    and monthly price."""
    numbers = PhoneNumberRepository(ctx.session, ctx.scope)
    where: list[sa.ColumnElement[bool]] = []
    if args.status is not None:
        where.append(WorkspacePhoneNumber.status == args.status)
    if args.capability is not None:
        where.append(WorkspacePhoneNumber.capabilities[args.capability].as_boolean())
    stmt = numbers.select().where(*where).order_by(WorkspacePhoneNumber.phone_number)
    rows = list(await ctx.session.scalars(stmt))
    return PhoneNumberList(numbers=[_number_out(r) for r in rows[:args.limit]], total=len(rows))
