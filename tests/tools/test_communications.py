"""Communications tools against the real database: the inbox (list, read, reply through a
sender, assign), team chat, notifications and phone numbers; audit rows for every write,
idempotent retries, roles, bad arguments and other workspaces' ids."""

from __future__ import annotations

import dataclasses
import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

import tools.communications  # noqa: F401  (registers the tools)
from store.errors import InvalidArgument
from store.models.admin import AuditLog
from store.models.communications import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationStatus,
    Notification,
    NotificationType,
    PhoneNumberStatus,
    PhoneProvider,
    SenderType,
    TeamMessage,
)
from store.models.core import MemberRole
from store.models.crm import Direction
from store.models.neptune import OutboundChannel, OutboundMessage, OutboundStatus
from store.repositories.communications import (
    ConversationRepository,
    PhoneNumberRepository,
    TeamChannelRepository,
)
from store.repositories.crm import ContactRepository
from store.tenancy import WorkspaceScope, scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.conftest import ContextFactory
from tests.tools.helpers import CallTool, Sessions, add_member, audit, row_counts, rows, unchanged
from tools.errors import RetryableToolError, ToolFailed
from tools.senders import (
    SENDER_SERVICE,
    OutboxSender,
    OutgoingMessage,
    SendReceipt,
    normalize_recipient,
    sender_for,
)

# -- helpers -------------------------------------------------------------------------------------


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    """Row counts of every table these tools write, to prove a refused call wrote nothing."""
    return await row_counts(sessions, ws, AuditLog, OutboundMessage, ConversationMessage,
                            Notification, TeamMessage)


def fresh_number() -> str:
    """Phone numbers are unique across all workspaces, so each test needs its own."""
    return f"+1999{uuid.uuid4().int % 10**7:07d}"


@dataclasses.dataclass(frozen=True)
class Inbox:
    contact_id: uuid.UUID
    email: uuid.UUID
    sms: uuid.UUID
    chat: uuid.UUID
    archived: uuid.UUID
    number: str


async def seed_inbox(sessions: Sessions, ws: WorkspaceFixture) -> Inbox:
    async with scoped_session(sessions, ws.scope) as s:
        contact = await ContactRepository(s, ws.scope).create(
            first_name="Dana", last_name="Reyes", email="dana@acme.example",
            phone="+1 (415) 555-0101",
        )
        convs = ConversationRepository(s, ws.scope)
        ids = []
        for channel, subject, lines in (
            (ConversationChannel.EMAIL, "Pricing for 50 seats", ["Could you send pricing?"]),
            (ConversationChannel.SMS, None, ["Is it in stock?", "OUT:Yes, ships today."]),
            (ConversationChannel.LIVE_CHAT, None, ["Hello?"]),
        ):
            conv = await convs.create(contact_id=contact.id, channel=channel, subject=subject,
                                      assigned_to=ws.user_id)
            for line in lines:
                out = line.startswith("OUT:")
                await convs.add_message(
                    conv.id, direction=Direction.OUTBOUND if out else Direction.INBOUND,
                    content=line.removeprefix("OUT:"),
                    sender_type=SenderType.USER if out else SenderType.CONTACT,
                )
            ids.append(conv.id)
        archived = await convs.create(contact_id=contact.id, channel=ConversationChannel.EMAIL,
                                      status=ConversationStatus.ARCHIVED, subject="Old")
        number = fresh_number()
        await PhoneNumberRepository(s, ws.scope).create(
            phone_number=number, provider=PhoneProvider.TWILIO, friendly_name="Main line",
            capabilities={"voice": True, "sms": True}, monthly_price_cents=115,
        )
    return Inbox(contact.id, ids[0], ids[1], ids[2], archived.id, number)


# -- inbox ---------------------------------------------------------------------------------------


async def test_list_inbox_filters_and_flags_waiting_customers(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    inbox = await seed_inbox(sessions, ws)
    other_inbox = await seed_inbox(sessions, other)

    result = await call_tool(ws, "list_inbox_conversations", {}, role=MemberRole.VIEWER)
    listed = {c.id: c for c in result.conversations}
    assert set(listed) == {inbox.email, inbox.sms, inbox.chat}  # archived is not in the inbox
    assert listed[inbox.email].awaiting_reply and listed[inbox.email].contact_name == "Dana Reyes"
    assert not listed[inbox.sms].awaiting_reply  # we answered last
    assert result.has_more is False

    sms = await call_tool(ws, "list_inbox_conversations", {"channel": "sms", "mine_only": True})
    assert [c.id for c in sms.conversations] == [inbox.sms]
    archived = await call_tool(ws, "list_inbox_conversations", {"status": "archived"})
    assert [c.id for c in archived.conversations] == [inbox.archived]
    page = await call_tool(ws, "list_inbox_conversations", {"limit": 2})
    assert len(page.conversations) == 2 and page.has_more and page.next_cursor

    with pytest.raises(RetryableToolError, match="contact"):
        await call_tool(ws, "list_inbox_conversations", {"contact_id": str(other_inbox.contact_id)})
    with pytest.raises(RetryableToolError, match="no active member"):
        await call_tool(ws, "list_inbox_conversations", {"assignee_id": str(other.user_id)})
    for bad in ({"limit": 0}, {"status": "deleted"}, {"mine_only": True,
                                                       "assignee_id": str(ws.user_id)}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_inbox_conversations", bad)


async def test_get_inbox_conversation_shows_latest_messages_oldest_first(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    inbox = await seed_inbox(sessions, ws)
    other_inbox = await seed_inbox(sessions, other)
    detail = await call_tool(ws, "get_inbox_conversation", {"conversation_id": str(inbox.sms)},
                             role=MemberRole.VIEWER)
    assert [m.content for m in detail.messages] == ["Is it in stock?", "Yes, ships today."]
    assert detail.contact.email == "dana@acme.example" and detail.earlier_messages == 0
    latest = await call_tool(ws, "get_inbox_conversation",
                             {"conversation_id": str(inbox.sms), "message_limit": 1})
    assert [m.content for m in latest.messages] == ["Yes, ships today."]
    assert latest.earlier_messages == 1

    with pytest.raises(RetryableToolError, match="no conversation"):
        await call_tool(ws, "get_inbox_conversation", {"conversation_id": str(other_inbox.sms)})
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "get_inbox_conversation",
                        {"conversation_id": str(inbox.sms), "message_limit": 500})


# -- replying ------------------------------------------------------------------------------------


async def test_reply_by_email_goes_to_the_outbox_and_the_conversation_once(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    inbox = await seed_inbox(sessions, ws)
    args = {"conversation_id": str(inbox.email), "body": "50 seats are $2,900 a month."}
    first = await call_tool(ws, "reply_to_conversation", args, key="turn-1:call-1")
    again = await call_tool(ws, "reply_to_conversation", args, key="turn-1:call-1")

    assert first.channel == OutboundChannel.EMAIL and first.status == OutboundStatus.QUEUED
    assert first.already_sent is False and again.already_sent is True
    assert (again.message_id, again.outbound_message_id) == (first.message_id,
                                                              first.outbound_message_id)
    [outbox] = await rows(sessions, ws, OutboundMessage)
    assert (outbox.recipient, outbox.subject, outbox.body) == (
        "dana@acme.example", "Re: Pricing for 50 seats", args["body"])
    assert (outbox.related_type, outbox.related_id) == ("conversation", inbox.email)
    messages = await rows(sessions, ws, ConversationMessage,
                          ConversationMessage.conversation_id == inbox.email)
    sent = [m for m in messages if m.direction == Direction.OUTBOUND]
    assert [(m.content, m.sender_id) for m in sent] == [(args["body"], ws.user_id)]
    [conversation] = await rows(sessions, ws, Conversation, Conversation.id == inbox.email)
    assert conversation.message_count == 2 and conversation.last_outbound_at is not None
    [send_audit] = await audit(sessions, ws, "outbound_message")
    assert send_audit.action == "send" and send_audit.entity_id == str(outbox.id)
    assert send_audit.changes["recipient"]["after"] == "dana@acme.example"
    [message_audit] = await audit(sessions, ws, "conversation_message")
    assert message_audit.changes["content"]["after"] == args["body"]


class RecordingSender:
    """A sender double: proves the tool hands the message to the configured sender."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMessage] = []

    async def send(
        self, session: AsyncSession, scope: WorkspaceScope, message: OutgoingMessage
    ) -> SendReceipt:
        self.sent.append(message)
        return SendReceipt(uuid.uuid4(), message.channel, message.recipient, OutboundStatus.SENT)


async def test_sms_reply_uses_the_configured_sender_and_the_workspace_number(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    inbox = await seed_inbox(sessions, ws)
    sender = RecordingSender()
    result = await call_tool(
        ws, "reply_to_conversation",
        {"conversation_id": str(inbox.sms), "body": "Back in stock Monday."},
        key="k-sms", services={SENDER_SERVICE: sender},
    )
    [message] = sender.sent
    assert (message.channel, message.recipient, message.sender) == (
        OutboundChannel.SMS, "+14155550101", inbox.number)
    assert message.subject is None and message.idempotency_key == "k-sms"
    assert result.status == OutboundStatus.SENT and result.recipient == "+14155550101"
    assert await rows(sessions, ws, OutboundMessage) == []  # the double, not the outbox, sent it
    assert len(await audit(sessions, ws, "outbound_message")) == 1


async def test_reply_refusals_write_nothing(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    inbox = await seed_inbox(sessions, ws)
    other_inbox = await seed_inbox(sessions, other)
    async with unchanged(footprint, sessions, ws):
        good = {"conversation_id": str(inbox.email), "body": "Hi"}

        with pytest.raises(ToolFailed, match="member role"):
            await call_tool(ws, "reply_to_conversation", good, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no conversation"):
            await call_tool(ws, "reply_to_conversation",
                            {**good, "conversation_id": str(other_inbox.email)})
        for bad in ({**good, "body": ""}, {**good, "body": "x" * 4001}, {"body": "Hi"},
                    {**good, "conversation_id": str(inbox.sms), "subject": "Hello"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "reply_to_conversation", bad)
        with pytest.raises(ToolFailed, match="live_chat"):
            await call_tool(ws, "reply_to_conversation",
                            {**good, "conversation_id": str(inbox.chat)})


async def test_reply_fails_clearly_when_the_contact_has_no_address(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contact = await ContactRepository(s, ws.scope).create(first_name="Nobody")
        conv = await ConversationRepository(s, ws.scope).create(
            contact_id=contact.id, channel=ConversationChannel.WHATSAPP)
    with pytest.raises(ToolFailed, match="Nobody has no phone number"):
        await call_tool(ws, "reply_to_conversation",
                        {"conversation_id": str(conv.id), "body": "Hello"})
    assert await rows(sessions, ws, OutboundMessage) == []


# -- assignment ----------------------------------------------------------------------------------


async def test_assign_conversation_updates_audits_and_notifies(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    inbox = await seed_inbox(sessions, ws)
    other_inbox = await seed_inbox(sessions, other)
    priya = await add_member(sessions, ws)

    result = await call_tool(ws, "assign_conversation",
                             {"conversation_id": str(inbox.email), "assignee_id": str(priya)},
                             role=MemberRole.MEMBER)
    assert result.conversation.assigned_to == priya and result.previous_assignee == ws.user_id
    assert result.notified
    [conv] = await rows(sessions, ws, Conversation, Conversation.id == inbox.email)
    assert conv.assigned_to == priya
    [change] = await audit(sessions, ws, "conversation")
    assert change.changes == {"assigned_to": {"before": str(ws.user_id), "after": str(priya)}}
    [note] = await rows(sessions, ws, Notification)
    assert (note.user_id, note.type) == (priya, NotificationType.ASSIGNMENT)
    assert note.link == f"/inbox/{inbox.email}"

    mine = await call_tool(ws, "assign_conversation", {"conversation_id": str(inbox.email)})
    assert mine.conversation.assigned_to == ws.user_id and not mine.notified
    cleared = await call_tool(ws, "assign_conversation",
                              {"conversation_id": str(inbox.email), "unassign": True})
    assert cleared.conversation.assigned_to is None
    assert len(await audit(sessions, ws, "conversation")) == 3

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "assign_conversation", {"conversation_id": str(inbox.email)},
                            role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no active member"):
            await call_tool(ws, "assign_conversation", {
                "conversation_id": str(inbox.email), "assignee_id": str(other.user_id)})
        with pytest.raises(RetryableToolError, match="no conversation"):
            await call_tool(ws, "assign_conversation", {"conversation_id": str(other_inbox.email)})
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "assign_conversation", {
                "conversation_id": str(inbox.email), "assignee_id": str(priya), "unassign": True})
    [conv] = await rows(sessions, ws, Conversation, Conversation.id == inbox.email)
    assert conv.assigned_to is None


# -- team chat -----------------------------------------------------------------------------------


async def test_team_channels_and_posting(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    ws, other = two
    ids, archived = {}, {}
    for w in (ws, other):
        async with scoped_session(sessions, w.scope) as s:
            channels = TeamChannelRepository(s, w.scope)
            ids[w.slug] = (await channels.create(name="sales")).id
            archived[w.slug] = (await channels.create(name="old", is_archived=True)).id
    listed = await call_tool(ws, "list_team_channels", {}, role=MemberRole.VIEWER)
    assert [c.name for c in listed.channels] == ["sales"] and listed.total == 1

    sales = ids[ws.slug]
    args = {"channel_id": str(sales), "content": "Closed Globex!"}
    first = await call_tool(ws, "post_team_message", args, key="k-post")
    again = await call_tool(ws, "post_team_message", args, key="k-post")
    assert first.channel_name == "sales" and again.already_posted
    assert again.message_id == first.message_id
    [message] = await rows(sessions, ws, TeamMessage)
    assert (message.sender_id, message.content) == (ws.user_id, "Closed Globex!")
    reply = await call_tool(ws, "post_team_message", {
        "channel_id": str(sales), "content": "Congrats", "reply_to_message_id": str(message.id)})
    assert reply.parent_message_id == message.id
    assert len(await audit(sessions, ws, "team_message")) == 2

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "post_team_message", args, role=MemberRole.VIEWER)
        with pytest.raises(ToolFailed, match="archived"):
            await call_tool(ws, "post_team_message", {**args, "channel_id": str(archived[ws.slug])})
        with pytest.raises(RetryableToolError, match="no team channel"):
            await call_tool(ws, "post_team_message", {**args, "channel_id": str(ids[other.slug])})
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "post_team_message", {**args, "content": ""})


# -- notifications -------------------------------------------------------------------------------


async def test_notify_user_notifies_members_once(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    ws, other = two
    priya = await add_member(sessions, ws)
    args = {"recipient_id": str(priya), "title": "Contract signed", "type": "success"}
    first = await call_tool(ws, "notify_user", args, key="k-note")
    again = await call_tool(ws, "notify_user", args, key="k-note")
    assert again.already_sent and again.notification_id == first.notification_id
    [note] = await rows(sessions, ws, Notification)
    assert (note.user_id, note.title, note.type) == (priya, "Contract signed",
                                                     NotificationType.SUCCESS)
    assert note.data["from_user_id"] == str(ws.user_id)
    reminder = await call_tool(ws, "notify_user", {"title": "Follow up with Acme"})
    assert reminder.recipient_id == ws.user_id
    assert len(await audit(sessions, ws, "notification")) == 2

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "notify_user", args, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no active member"):
            await call_tool(ws, "notify_user", {**args, "recipient_id": str(other.user_id)})
        for bad in ({**args, "title": ""}, {**args, "type": "urgent"}, {"message": "no title"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "notify_user", bad)


# -- phone numbers -------------------------------------------------------------------------------


async def test_list_phone_numbers_by_capability_and_status(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    inbox = await seed_inbox(sessions, ws)
    voice_only = fresh_number()
    async with scoped_session(sessions, ws.scope) as s:
        await PhoneNumberRepository(s, ws.scope).create(
            phone_number=voice_only, provider=PhoneProvider.SIGNALWIRE,
            capabilities={"voice": True}, status=PhoneNumberStatus.SUSPENDED,
        )
    everything = await call_tool(ws, "list_phone_numbers", {}, role=MemberRole.VIEWER)
    assert everything.total == 2
    [texting] = (await call_tool(ws, "list_phone_numbers", {"capability": "sms"})).numbers
    assert (texting.phone_number, texting.sms, texting.mms) == (inbox.number, True, False)
    assert str(texting.monthly_price) == "1.15"
    [suspended] = (await call_tool(ws, "list_phone_numbers", {"status": "suspended"})).numbers
    assert suspended.phone_number == voice_only
    for bad in ({"capability": "fax"}, {"limit": 51}, {"status": "lost"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_phone_numbers", bad)


# -- the default sender --------------------------------------------------------------------------


async def test_outbox_sender_queues_once_per_key_and_checks_addresses(
    sessions: Sessions, tool_context: ContextFactory, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    message = OutgoingMessage(OutboundChannel.SMS, "+1 415 555 0199", "Your order shipped",
                              idempotency_key="k-outbox")
    async with scoped_session(sessions, ws.scope) as s:
        first = await OutboxSender().send(s, ws.scope, message)
        again = await OutboxSender().send(s, ws.scope, message)
    assert (first.repeated, again.repeated) == (False, True)
    assert again.outbound_message_id == first.outbound_message_id
    [row] = await rows(sessions, ws, OutboundMessage)
    assert (row.recipient, row.status) == ("+14155550199", OutboundStatus.QUEUED)
    assert normalize_recipient(OutboundChannel.EMAIL, " a@b.example ") == "a@b.example"
    for channel, bad in ((OutboundChannel.EMAIL, "not-an-email"),
                         (OutboundChannel.WHATSAPP, "call me")):
        with pytest.raises(InvalidArgument):
            normalize_recipient(channel, bad)
    async with tool_context(ws) as ctx:
        assert isinstance(sender_for(ctx), OutboxSender)
    async with tool_context(ws, services={SENDER_SERVICE: object()}) as ctx:
        with pytest.raises(TypeError, match="not a Sender"):
            sender_for(ctx)
