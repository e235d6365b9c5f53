"""Communications repositories: inbox conversations and messages, participants, phone numbers,
team chat and notifications.

Writing a message also maintains its conversation's counters and timestamps (and a team
message its channel's and thread's), in the same transaction and under a row lock on the
parent, so concurrent messages cannot lose a count.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.communications import (
    Conversation,
    ConversationChannel,
    ConversationMessage,
    ConversationParticipant,
    ConversationStatus,
    Notification,
    ParticipantRole,
    PhoneNumberStatus,
    SenderType,
    TeamChannel,
    TeamMessage,
    WorkspacePhoneNumber,
    normalize_capabilities,
    to_e164,
)
from store.models.crm import Direction
from store.pagination import Page
from store.repositories.base import Repository, utcnow

#: Statuses an inbound message brings back to the inbox (spam stays spam).
REOPENED_BY_INBOUND = (ConversationStatus.ARCHIVED, ConversationStatus.CLOSED)


class ConversationRepository(Repository[Conversation]):
    model = Conversation
    sortable = frozenset({"created_at", "updated_at", "last_message_at"})
    archive_values = {"status": ConversationStatus.ARCHIVED}

    async def inbox(
        self, *, status: ConversationStatus = ConversationStatus.ACTIVE,
        channel: ConversationChannel | None = None, assigned_to: uuid.UUID | None = None,
        contact_id: uuid.UUID | None = None, unread_only: bool = False,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[Conversation]:
        """Conversations with the most recent activity first."""
        where = [Conversation.status == status]
        if channel is not None:
            where.append(Conversation.channel == channel)
        if assigned_to is not None:
            where.append(Conversation.assigned_to == assigned_to)
        if contact_id is not None:
            where.append(Conversation.contact_id == contact_id)
        if unread_only:
            where.append(Conversation.unread_count > 0)
        return await self._page(*where, limit=limit, cursor=cursor, sort="last_message_at")

    async def add_message(
        self, conversation_id: uuid.UUID, *, direction: Direction, content: str,
        sender_type: SenderType, sender_id: uuid.UUID | None = None,
        sent_at: datetime | None = None, **extra: Any,
    ) -> ConversationMessage:
        """Store a message and update the conversation's counters and last-message times.

        An inbound message counts as unread and reopens an archived or closed conversation.
        `extra` may set content_type, meta, external_id, delivered_at, is_read.
        """
        conversation = await self._locked(conversation_id)
        at = sent_at or utcnow()
        messages = ConversationMessageRepository(self.session, self.scope)
        message = await messages.create(
            conversation_id=conversation_id, direction=direction, content=content,
            sender_type=sender_type, sender_id=sender_id, sent_at=at, **extra,
        )
        await self.update(conversation_id, **_counters_after(conversation, message))
        return message

    async def mark_read(self, conversation_id: uuid.UUID) -> int:
        """Mark the conversation's inbound messages read; returns how many were unread."""
        await self._locked(conversation_id)
        stmt = (
            sa.update(ConversationMessage)
            .where(
                ConversationMessage.workspace_id == self.scope.workspace_id,
                ConversationMessage.conversation_id == conversation_id,
                ConversationMessage.direction == Direction.INBOUND,
                ConversationMessage.is_read.is_(False),
            )
            .values(is_read=True, read_at=utcnow(), updated_at=sa.func.now())
            .returning(ConversationMessage.id)
            .execution_options(synchronize_session="fetch")
        )
        changed = len((await self.session.execute(stmt)).all())
        await self.update(conversation_id, unread_count=0)
        return changed

    async def unanswered(
        self, hours: float, *, now: datetime | None = None, limit: int = 100
    ) -> list[Conversation]:
        """Active conversations whose last message is inbound and older than `hours`,
        the longest-waiting first."""
        cutoff = (now or utcnow()) - timedelta(hours=hours)
        return await self._all(
            Conversation.status == ConversationStatus.ACTIVE,
            Conversation.last_inbound_at < cutoff,
            sa.or_(
                Conversation.last_outbound_at.is_(None),
                Conversation.last_outbound_at < Conversation.last_inbound_at,
            ),
            order_by=[Conversation.last_inbound_at, Conversation.id],
            limit=limit,
        )

    async def assign(self, conversation_id: uuid.UUID, user_id: uuid.UUID | None) -> Conversation:
        return await self.update(conversation_id, assigned_to=user_id)

    async def _locked(self, conversation_id: uuid.UUID) -> Conversation:
        stmt = (
            self.select().where(Conversation.id == conversation_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        conversation = await self.session.scalar(stmt)
        if conversation is None:
            raise NotFound(self.entity, conversation_id)
        return conversation


def _later(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate > current else current


def _counters_after(conversation: Conversation, message: ConversationMessage) -> dict[str, Any]:
    """The conversation's new counters and times once `message` is added.

    Times only move forward, so a late-arriving older message does not rewind them; the first
    message replaces the creation time that stands in for `last_message_at` until then.
    """
    at = message.sent_at
    previous = conversation.last_message_at if conversation.message_count else None
    values: dict[str, Any] = {
        "message_count": conversation.message_count + 1,
        "last_message_at": _later(previous, at),
    }
    if message.direction == Direction.INBOUND:
        values["last_inbound_at"] = _later(conversation.last_inbound_at, at)
        if not message.is_read:
            values["unread_count"] = conversation.unread_count + 1
        if conversation.status in REOPENED_BY_INBOUND:
            values["status"] = ConversationStatus.ACTIVE
    else:
        values["last_outbound_at"] = _later(conversation.last_outbound_at, at)
    return values


class ConversationMessageRepository(Repository[ConversationMessage]):
    """Messages; write them through `ConversationRepository.add_message` to keep counters."""

    model = ConversationMessage
    sortable = frozenset({"created_at", "updated_at", "sent_at"})

    async def thread(
        self, conversation_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None,
        newest_first: bool = False,
    ) -> Page[ConversationMessage]:
        return await self._page(
            ConversationMessage.conversation_id == conversation_id,
            limit=limit, cursor=cursor, sort="sent_at", descending=newest_first,
        )

    async def by_external_id(self, external_id: str) -> ConversationMessage | None:
        """The message a provider id refers to (to ignore a redelivered webhook)."""
        rows = await self._all(ConversationMessage.external_id == external_id, limit=1)
        return rows[0] if rows else None

    async def last_message(self, conversation_id: uuid.UUID) -> ConversationMessage | None:
        rows = await self._all(
            ConversationMessage.conversation_id == conversation_id,
            order_by=[ConversationMessage.sent_at.desc(), ConversationMessage.id.desc()],
            limit=1,
        )
        return rows[0] if rows else None


class ConversationParticipantRepository(Repository[ConversationParticipant]):
    model = ConversationParticipant

    async def add(
        self, conversation_id: uuid.UUID, user_id: uuid.UUID,
        role: ParticipantRole = ParticipantRole.PARTICIPANT,
    ) -> ConversationParticipant:
        return await self.create(conversation_id=conversation_id, user_id=user_id, role=role)

    async def for_conversation(self, conversation_id: uuid.UUID) -> list[ConversationParticipant]:
        """Owners first, then participants, then observers; each by when they joined."""
        rank = sa.case(
            {role: n for n, role in enumerate(ParticipantRole)},
            value=ConversationParticipant.role,
        )
        return await self._all(
            ConversationParticipant.conversation_id == conversation_id,
            order_by=[rank, ConversationParticipant.created_at, ConversationParticipant.id],
        )

    async def conversations_of(self, user_id: uuid.UUID) -> list[ConversationParticipant]:
        return await self._all(
            ConversationParticipant.user_id == user_id,
            order_by=[ConversationParticipant.created_at.desc(), ConversationParticipant.id],
        )


def _phone_checked(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    if "phone_number" in out:
        out["phone_number"] = to_e164(out["phone_number"])
    if "capabilities" in out:
        out["capabilities"] = normalize_capabilities(out["capabilities"])
    return out


class PhoneNumberRepository(Repository[WorkspacePhoneNumber]):
    model = WorkspacePhoneNumber

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        return await super().create_many([_phone_checked(r) for r in rows])

    async def by_number(self, phone_number: str) -> WorkspacePhoneNumber | None:
        """This workspace's number, written in any common format (`+1 415-555-0100`)."""
        rows = await self._all(WorkspacePhoneNumber.phone_number == to_e164(phone_number), limit=1)
        return rows[0] if rows else None

    async def with_capability(self, capability: str) -> list[WorkspacePhoneNumber]:
        """Active numbers that can do `capability` (voice, sms or mms)."""
        if capability not in ("voice", "sms", "mms"):
            raise InvalidArgument(f"unknown capability {capability!r}; use voice, sms or mms")
        return await self._all(
            WorkspacePhoneNumber.status == PhoneNumberStatus.ACTIVE,
            WorkspacePhoneNumber.capabilities[capability].as_boolean(),
            order_by=[WorkspacePhoneNumber.phone_number],
        )


class TeamChannelRepository(Repository[TeamChannel]):
    model = TeamChannel
    archive_values = {"is_archived": True}

    async def visible(self) -> list[TeamChannel]:
        return await self._all(
            TeamChannel.is_archived.is_(False),
            order_by=[TeamChannel.last_message_at.desc().nulls_last(), TeamChannel.name],
        )


class TeamMessageRepository(Repository[TeamMessage]):
    model = TeamMessage
    sortable = frozenset({"created_at", "updated_at", "sent_at"})

    async def post(
        self, channel_id: uuid.UUID, sender_id: uuid.UUID | None, content: str, *,
        parent_message_id: uuid.UUID | None = None, sent_at: datetime | None = None,
        **extra: Any,
    ) -> TeamMessage:
        """Post to a channel (or reply in a thread); updates the channel's last message time
        and the thread's reply count."""
        at = sent_at or utcnow()
        channels = TeamChannelRepository(self.session, self.scope)
        channel = await channels.get(channel_id)
        if channel.is_archived:
            raise Conflict(f"channel {channel.name!r} is archived")
        if parent_message_id is not None:
            await self._count_reply(channel_id, parent_message_id)
        message = await self.create(
            channel_id=channel_id, sender_id=sender_id, content=content,
            parent_message_id=parent_message_id, sent_at=at, **extra,
        )
        if channel.last_message_at is None or at > channel.last_message_at:
            await channels.update(channel_id, last_message_at=at)
        return message

    async def _count_reply(self, channel_id: uuid.UUID, parent_id: uuid.UUID) -> None:
        stmt = (
            self.select().where(TeamMessage.id == parent_id).with_for_update()
            .execution_options(populate_existing=True)
        )
        parent = await self.session.scalar(stmt)
        if parent is None:
            raise NotFound(self.entity, parent_id)
        if parent.channel_id != channel_id or parent.parent_message_id is not None:
            raise InvalidArgument("reply to a top-level message of the same channel")
        await self.update(parent_id, thread_count=parent.thread_count + 1)

    async def history(
        self, channel_id: uuid.UUID, *, limit: int = 50, cursor: str | None = None
    ) -> Page[TeamMessage]:
        """Top-level messages of a channel, newest first (replies via `thread`)."""
        return await self._page(
            TeamMessage.channel_id == channel_id, TeamMessage.parent_message_id.is_(None),
            limit=limit, cursor=cursor, sort="sent_at",
        )

    async def thread(self, parent_message_id: uuid.UUID) -> list[TeamMessage]:
        return await self._all(
            TeamMessage.parent_message_id == parent_message_id,
            order_by=[TeamMessage.sent_at, TeamMessage.id],
        )

    async def edit(self, message_id: uuid.UUID, content: str) -> TeamMessage:
        return await self.update(message_id, content=content, is_edited=True, edited_at=utcnow())

    async def pinned(self, channel_id: uuid.UUID) -> list[TeamMessage]:
        return await self._all(
            TeamMessage.channel_id == channel_id, TeamMessage.is_pinned.is_(True),
            order_by=[TeamMessage.sent_at.desc(), TeamMessage.id],
        )


class NotificationRepository(Repository[Notification]):
    model = Notification

    async def unread_for(
        self, user_id: uuid.UUID, *, limit: int = 20, cursor: str | None = None
    ) -> Page[Notification]:
        return await self._page(
            Notification.user_id == user_id, Notification.is_read.is_(False),
            limit=limit, cursor=cursor,
        )

    async def unread_count(self, user_id: uuid.UUID) -> int:
        return await self._count(Notification.user_id == user_id, Notification.is_read.is_(False))

    async def mark_read(
        self, user_id: uuid.UUID, notification_ids: Sequence[uuid.UUID] | None = None
    ) -> int:
        """Mark the user's notifications read (the given ones, or all); returns how many changed.

        Ids of other users' notifications are ignored, never marked.
        """
        where = [
            Notification.workspace_id == self.scope.workspace_id,
            Notification.user_id == user_id,
            Notification.is_read.is_(False),
        ]
        if notification_ids is not None:
            where.append(Notification.id.in_(list(notification_ids)))
        stmt = (
            sa.update(Notification).where(*where)
            .values(is_read=True, read_at=utcnow(), updated_at=sa.func.now())
            .returning(Notification.id)
            .execution_options(synchronize_session="fetch")
        )
        return len((await self.session.execute(stmt)).all())
