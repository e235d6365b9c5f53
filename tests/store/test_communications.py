"""Communications repositories against the real database: inbox and message counters,
unanswered conversations, participants, phone numbers, team chat, notifications, isolation,
and the demo seeder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import communications as communications_demo
from store.demo import crm as crm_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.communications import (
    ConversationChannel,
    ConversationStatus,
    NotificationType,
    ParticipantRole,
    PhoneProvider,
    SenderType,
    TeamChannelType,
)
from store.models.core import User
from store.models.crm import Direction
from store.repositories.communications import (
    ConversationMessageRepository,
    ConversationParticipantRepository,
    ConversationRepository,
    NotificationRepository,
    PhoneNumberRepository,
    TeamChannelRepository,
    TeamMessageRepository,
)
from store.repositories.crm import ContactRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]
NOW = datetime.now(UTC)
IN, OUT = Direction.INBOUND, Direction.OUTBOUND


def _number() -> str:
    """A fresh fictional number: phone numbers are unique across all workspaces."""
    return f"+1999{uuid.uuid4().int % 10**7:07d}"


async def test_messages_maintain_conversation_counters(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contact = await ContactRepository(s, ws.scope).create(first_name="Ada")
        convs = ConversationRepository(s, ws.scope)
        conv = await convs.create(contact_id=contact.id, channel=ConversationChannel.SMS,
                                  assigned_to=ws.user_id)
        assert (conv.message_count, conv.unread_count, conv.last_inbound_at) == (0, 0, None)
        t0 = NOW - timedelta(hours=3)
        first = await convs.add_message(conv.id, direction=IN, content="Hi, is it in stock?",
                                        sender_type=SenderType.CONTACT, sender_id=contact.id,
                                        sent_at=t0, external_id="SM1", meta={"segments": 1})
        assert first.is_read is False and first.meta == {"segments": 1}
        conv = await convs.get(conv.id)
        assert (conv.message_count, conv.unread_count) == (1, 1)
        assert conv.last_message_at == conv.last_inbound_at == t0 and conv.last_outbound_at is None
        await convs.add_message(conv.id, direction=OUT, content="Yes!", sent_at=t0 + timedelta(
            minutes=5), sender_type=SenderType.USER, sender_id=ws.user_id)
        await convs.add_message(conv.id, direction=IN, content="Great", sent_at=t0 + timedelta(
            minutes=9), sender_type=SenderType.CONTACT)
        late = await convs.add_message(conv.id, direction=OUT, content="(imported late)",
                                       sent_at=t0 - timedelta(days=1),
                                       sender_type=SenderType.SYSTEM)
        conv = await convs.get(conv.id)
        assert (conv.message_count, conv.unread_count) == (4, 2)
        assert conv.last_message_at == conv.last_inbound_at == t0 + timedelta(minutes=9)
        assert conv.last_outbound_at == t0 + timedelta(minutes=5)

        messages = ConversationMessageRepository(s, ws.scope)
        thread = await messages.thread(conv.id, limit=3)
        assert [m.content for m in thread.items] == ["(imported late)", "Hi, is it in stock?",
                                                     "Yes!"]
        rest = await messages.thread(conv.id, limit=3, cursor=thread.next_cursor)
        assert [m.content for m in rest.items] == ["Great"] and rest.next_cursor is None
        assert (await messages.last_message(conv.id)).content == "Great"  # type: ignore[union-attr]
        assert (await messages.by_external_id("SM1")).id == first.id  # type: ignore[union-attr]
        assert await messages.by_external_id("SM2") is None
        assert late.sent_at < first.sent_at

        assert await convs.mark_read(conv.id) == 2
        assert (await convs.get(conv.id)).unread_count == 0
        assert all(m.is_read for m in (await messages.thread(conv.id)).items if m.direction == IN)
        assert await convs.mark_read(conv.id) == 0
    with pytest.raises(Conflict):  # a redelivered provider webhook
        async with scoped_session(sessions, ws.scope) as s:
            await ConversationRepository(s, ws.scope).add_message(
                conv.id, direction=IN, content="dup", sender_type=SenderType.CONTACT,
                external_id="SM1")
    async with scoped_session(sessions, ws.scope) as s:
        assert (await ConversationRepository(s, ws.scope).get(conv.id)).message_count == 4


async def test_inbound_reopens_but_spam_stays(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        convs = ConversationRepository(s, ws.scope)
        archived = await convs.create(channel=ConversationChannel.EMAIL)
        assert (await convs.archive(archived.id)).status == ConversationStatus.ARCHIVED
        spam = await convs.create(channel=ConversationChannel.EMAIL,
                                  status=ConversationStatus.SPAM)
        closed = await convs.create(channel=ConversationChannel.EMAIL,
                                    status=ConversationStatus.CLOSED)
        for conv in (archived, spam, closed):
            await convs.add_message(conv.id, direction=IN, content="hello again",
                                    sender_type=SenderType.CONTACT)
        await convs.add_message(closed.id, direction=OUT, content="reply",
                                sender_type=SenderType.USER)
        statuses = [(await convs.get(c.id)).status for c in (archived, spam, closed)]
        assert statuses == [ConversationStatus.ACTIVE, ConversationStatus.SPAM,
                            ConversationStatus.ACTIVE]


async def test_inbox_filters_and_paging(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        contact = await ContactRepository(s, ws.scope).create(first_name="Bo")
        convs = ConversationRepository(s, ws.scope)
        made = []
        for i, channel in enumerate([ConversationChannel.EMAIL, ConversationChannel.SMS,
                                     ConversationChannel.EMAIL, ConversationChannel.WHATSAPP]):
            conv = await convs.create(channel=channel, contact_id=contact.id if i < 2 else None,
                                      assigned_to=ws.user_id if i % 2 else None)
            await convs.add_message(conv.id, direction=OUT if i == 3 else IN, content=f"m{i}",
                                    sender_type=SenderType.CONTACT,
                                    sent_at=NOW - timedelta(hours=10 - i))
            made.append(conv.id)
        await convs.create(channel=ConversationChannel.EMAIL, status=ConversationStatus.CLOSED)
        page = await convs.inbox(limit=3)
        assert [c.id for c in page.items] == made[::-1][:3]
        rest = await convs.inbox(limit=3, cursor=page.next_cursor)
        assert [c.id for c in rest.items] == [made[0]] and rest.next_cursor is None
        emails = await convs.inbox(channel=ConversationChannel.EMAIL)
        assert [c.id for c in emails.items] == [made[2], made[0]]
        mine = await convs.inbox(assigned_to=ws.user_id)
        assert [c.id for c in mine.items] == [made[3], made[1]]
        theirs = await convs.inbox(contact_id=contact.id)
        assert [c.id for c in theirs.items] == [made[1], made[0]]
        unread = await convs.inbox(unread_only=True)
        assert [c.id for c in unread.items] == [made[2], made[1], made[0]]
        closed = await convs.inbox(status=ConversationStatus.CLOSED)
        assert len(closed.items) == 1
        assert (await convs.assign(made[0], ws.user_id)).assigned_to == ws.user_id
        await convs.delete(made[0])
        assert await ConversationMessageRepository(s, ws.scope).count(
            conversation_id=made[0]) == 0


async def test_unanswered(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        convs = ConversationRepository(s, ws.scope)

        async def talk(*turns: tuple[Direction, float], **fields: object) -> uuid.UUID:
            conv = await convs.create(channel=ConversationChannel.SMS, **fields)
            for direction, hours_ago in turns:
                await convs.add_message(conv.id, direction=direction, content="...",
                                        sender_type=SenderType.CONTACT,
                                        sent_at=NOW - timedelta(hours=hours_ago))
            return conv.id

        waiting_long = await talk((IN, 50), (OUT, 49), (IN, 30))
        waiting = await talk((IN, 7))
        await talk((IN, 2))  # too recent
        await talk((IN, 30), (OUT, 20))  # answered
        await talk((OUT, 40))  # we wrote first, no reply yet: not ours to answer
        await talk((IN, 30), status=ConversationStatus.SPAM)
        assert await convs.unanswered(6, now=NOW) == [
            await convs.get(waiting_long), await convs.get(waiting)]
        assert [c.id for c in await convs.unanswered(24, now=NOW)] == [waiting_long]
        assert [c.id for c in await convs.unanswered(6, now=NOW, limit=1)] == [waiting_long]
        await convs.add_message(waiting, direction=OUT, content="Sorry for the wait!",
                                sender_type=SenderType.USER)
        assert [c.id for c in await convs.unanswered(6)] == [waiting_long]


async def test_participants(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        other = User(email=f"p-{uuid.uuid4().hex[:8]}@example.com")
        s.add(other)
        await s.flush()
        convs = ConversationRepository(s, ws.scope)
        conv = await convs.create(channel=ConversationChannel.LIVE_CHAT)
        second = await convs.create(channel=ConversationChannel.CALL)
        people = ConversationParticipantRepository(s, ws.scope)
        owner = await people.add(conv.id, ws.user_id, ParticipantRole.OWNER)
        await people.add(conv.id, other.id, ParticipantRole.OBSERVER)
        await people.add(second.id, ws.user_id)
        assert [p.role for p in await people.for_conversation(conv.id)] == [
            ParticipantRole.OWNER, ParticipantRole.OBSERVER]
        assert {p.conversation_id for p in await people.conversations_of(ws.user_id)} == {
            conv.id, second.id}
        assert (await people.update(owner.id, notifications_enabled=False)).notifications_enabled \
            is False
        await convs.delete(conv.id)
        assert await people.count() == 1
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await ConversationParticipantRepository(s, ws.scope).add(second.id, ws.user_id)


async def test_phone_numbers(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    a, b = await make_workspace(), await make_workspace()
    number = _number()
    pretty = f"{number[:2]} ({number[2:5]}) {number[5:8]}-{number[8:]}"
    async with scoped_session(sessions, a.scope) as s:
        phones = PhoneNumberRepository(s, a.scope)
        main = await phones.create(phone_number=pretty, provider=PhoneProvider.SIGNALWIRE,
                                   capabilities={"voice": True, "sms": True},
                                   monthly_price_cents=100)
        assert main.phone_number == number
        assert main.capabilities == {"voice": True, "sms": True, "mms": False}
        voice_only = _number()
        await phones.create_many([{"phone_number": voice_only, "provider": PhoneProvider.TWILIO,
                                   "capabilities": {"voice": True}}])
        assert (await phones.by_number(pretty)).id == main.id  # type: ignore[union-attr]
        assert (await phones.by_number("00" + number[1:])).id == main.id  # type: ignore[union-attr]
        assert await phones.by_number(_number()) is None
        assert [p.phone_number for p in await phones.with_capability("sms")] == [number]
        assert len(await phones.with_capability("voice")) == 2
        with pytest.raises(InvalidArgument, match="capability"):
            await phones.with_capability("fax")
        with pytest.raises(InvalidArgument, match=r"E\.164"):
            await phones.create(phone_number="555-0100", provider=PhoneProvider.TWILIO)
        with pytest.raises(InvalidArgument, match=r"E\.164"):
            await phones.by_number("call me")
        with pytest.raises(InvalidArgument, match="capabilities"):
            await phones.create_many([{"phone_number": _number(), "provider": "twilio",
                                       "capabilities": {"fax": True}}])
    async with scoped_session(sessions, b.scope) as s:
        assert await PhoneNumberRepository(s, b.scope).by_number(number) is None
    with pytest.raises(Conflict):  # unique across workspaces: calls must route to one tenant
        async with scoped_session(sessions, b.scope) as s:
            await PhoneNumberRepository(s, b.scope).create(phone_number=number,
                                                           provider=PhoneProvider.TWILIO)


async def test_team_chat(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        channels = TeamChannelRepository(s, ws.scope)
        general = await channels.create(name="general", type=TeamChannelType.GENERAL,
                                        created_by=ws.user_id)
        sales = await channels.create(name="sales")
        quiet = await channels.create(name="quiet")
        msgs = TeamMessageRepository(s, ws.scope)
        t = NOW - timedelta(hours=5)
        hello = await msgs.post(general.id, ws.user_id, "Hello team", sent_at=t)
        news = await msgs.post(general.id, ws.user_id, "Big news", sent_at=t + timedelta(hours=1),
                               attachments=[{"name": "deck.pdf"}])
        r1 = await msgs.post(general.id, None, "Welcome!", parent_message_id=hello.id,
                             sent_at=t + timedelta(hours=2))
        await msgs.post(general.id, ws.user_id, "Thanks", parent_message_id=hello.id,
                        sent_at=t + timedelta(hours=3))
        with pytest.raises(InvalidArgument, match="top-level"):
            await msgs.post(general.id, ws.user_id, "nested", parent_message_id=r1.id)
        with pytest.raises(InvalidArgument, match="same channel"):
            await msgs.post(sales.id, ws.user_id, "elsewhere", parent_message_id=hello.id)
        with pytest.raises(NotFound):
            await msgs.post(general.id, ws.user_id, "x", parent_message_id=uuid.uuid4())
        assert (await msgs.get(hello.id)).thread_count == 2
        history = await msgs.history(general.id, limit=1)
        assert [m.content for m in history.items] == ["Big news"]
        older = await msgs.history(general.id, limit=1, cursor=history.next_cursor)
        assert [m.content for m in older.items] == ["Hello team"] and older.next_cursor is None
        assert [m.content for m in await msgs.thread(hello.id)] == ["Welcome!", "Thanks"]
        edited = await msgs.edit(news.id, "Big news (updated)")
        assert edited.is_edited and edited.edited_at is not None
        await msgs.update(news.id, is_pinned=True)
        assert [m.id for m in await msgs.pinned(general.id)] == [news.id]
        assert (await channels.get(general.id)).last_message_at == t + timedelta(hours=3)
        assert [c.id for c in await channels.visible()] == [general.id, quiet.id, sales.id]
        await channels.archive(sales.id)
        with pytest.raises(Conflict, match="archived"):
            await msgs.post(sales.id, ws.user_id, "anyone?")
        await msgs.delete(hello.id)
        assert await msgs.count() == 1  # the thread went with its first message


async def test_notifications(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        other = User(email=f"n-{uuid.uuid4().hex[:8]}@example.com")
        s.add(other)
        await s.flush()
        notes = NotificationRepository(s, ws.scope)
        mine = [await notes.create(user_id=ws.user_id, title=f"n{i}",
                                   type=NotificationType.MENTION,
                                   created_at=NOW - timedelta(minutes=10 - i))
                for i in range(3)]
        theirs = await notes.create(user_id=other.id, title="theirs")
        page = await notes.unread_for(ws.user_id, limit=2)
        assert [n.title for n in page.items] == ["n2", "n1"]
        assert await notes.unread_count(ws.user_id) == 3
        assert await notes.mark_read(ws.user_id, [mine[0].id, theirs.id]) == 1
        assert await notes.unread_count(other.id) == 1
        assert await notes.mark_read(ws.user_id, [mine[0].id]) == 0
        assert await notes.mark_read(ws.user_id) == 2
        assert await notes.unread_count(ws.user_id) == 0
        assert (await notes.get(mine[1].id)).read_at is not None
        assert (await notes.unread_for(other.id)).items[0].id == theirs.id


async def test_another_workspace_is_invisible(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        their_contact = await ContactRepository(s, b.scope).create(first_name="T")
        convs = ConversationRepository(s, b.scope)
        theirs = await convs.create(channel=ConversationChannel.SMS)
        await convs.add_message(theirs.id, direction=IN, content="secret",
                                sender_type=SenderType.CONTACT, sent_at=NOW - timedelta(days=2))
        channel = await TeamChannelRepository(s, b.scope).create(name="theirs")
        note = await NotificationRepository(s, b.scope).create(user_id=b.user_id, title="x")
    async with scoped_session(sessions, a.scope) as s:
        convs = ConversationRepository(s, a.scope)
        with pytest.raises(NotFound):
            await convs.add_message(theirs.id, direction=OUT, content="hi",
                                    sender_type=SenderType.USER)
        with pytest.raises(NotFound):
            await convs.mark_read(theirs.id)
        with pytest.raises(NotFound):
            await TeamMessageRepository(s, a.scope).post(channel.id, a.user_id, "hi")
        assert await convs.unanswered(1) == []
        assert (await convs.inbox()).items == []
        assert await NotificationRepository(s, a.scope).mark_read(b.user_id, [note.id]) == 0
    with pytest.raises(NotFound, match="contact"):
        async with scoped_session(sessions, a.scope) as s:
            await ConversationRepository(s, a.scope).create(
                channel=ConversationChannel.SMS, contact_id=their_contact.id)
    async with scoped_session(sessions, b.scope) as s:
        assert (await ConversationRepository(s, b.scope).get(theirs.id)).message_count == 1
        assert await NotificationRepository(s, b.scope).unread_count(b.user_id) == 1


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5, now=NOW)
        await crm_demo.seed(ctx)
        await communications_demo.seed(ctx)
        convs = ConversationRepository(s, ws.scope)
        assert await convs.count() == len(ctx.ids["conversations"]) >= 6
        waiting = await convs.unanswered(1, now=NOW)
        assert len(waiting) >= 2 and all(c.unread_count == 1 for c in waiting)
        messages = ConversationMessageRepository(s, ws.scope)
        for conv in (await convs.inbox(limit=50)).items:
            thread = (await messages.thread(conv.id, limit=50)).items
            assert conv.message_count == len(thread) >= 1
            assert conv.last_message_at == thread[-1].sent_at
            assert conv.unread_count == sum(1 for m in thread if not m.is_read)
        phone = communications_demo.demo_phone_number(ws.workspace_id)
        found = await PhoneNumberRepository(s, ws.scope).by_number(phone)
        assert found is not None and found.phone_number == phone
        channels = await TeamChannelRepository(s, ws.scope).visible()
        assert len(channels) == 3 and all(c.last_message_at for c in channels)
        team = TeamMessageRepository(s, ws.scope)
        for channel in channels:
            for post in (await team.history(channel.id)).items:
                assert post.thread_count == len(await team.thread(post.id))
        notes = NotificationRepository(s, ws.scope)
        assert await notes.count() >= 7 and await notes.unread_count(ws.user_id) > 0
