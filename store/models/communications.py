"""Communications: the customer inbox, phone numbers, team chat and notifications.

A conversation keeps denormalised counters (`message_count`, `unread_count`) and the times of
its last message in each direction, maintained by `ConversationRepository.add_message`, so the
inbox list and "which customers are waiting for an answer" are single indexed queries instead
of aggregates over all messages.

Messages carry their own `sent_at` (the provider's timestamp for imported or delayed
deliveries), distinct from `created_at` (when the row was written).
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.orm import Mapped, mapped_column, validates

from store.errors import InvalidArgument
from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    currency_column,
    enum_column,
    flag_column,
    json_column,
    money_column,
    tags_column,
    tenant_fk,
    user_fk,
)
from store.models.crm import Direction

E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")


class ConversationChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    CALL = "call"
    WHATSAPP = "whatsapp"
    SOCIAL = "social"
    LIVE_CHAT = "live_chat"


class ConversationStatus(enum.StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"
    CLOSED = "closed"
    SPAM = "spam"


class SenderType(enum.StrEnum):
    CONTACT = "contact"
    USER = "user"
    AGENT = "agent"
    SYSTEM = "system"


class ParticipantRole(enum.StrEnum):
    OWNER = "owner"
    PARTICIPANT = "participant"
    OBSERVER = "observer"


class PhoneProvider(enum.StrEnum):
    SIGNALWIRE = "signalwire"
    TWILIO = "twilio"


class PhoneNumberStatus(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    SUSPENDED = "suspended"
    RELEASED = "released"


class TeamChannelType(enum.StrEnum):
    GENERAL = "general"
    DIRECT = "direct"
    GROUP = "group"
    ANNOUNCEMENT = "announcement"


class NotificationType(enum.StrEnum):
    INFO = "info"
    SUCCESS = "success"
    WARNING = "warning"
    ERROR = "error"
    MENTION = "mention"
    ASSIGNMENT = "assignment"
    REMINDER = "reminder"


class PhoneCapabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    voice: bool = False
    sms: bool = False
    mms: bool = False


def normalize_capabilities(raw: Any) -> JSON:
    try:
        return PhoneCapabilities.model_validate(raw).model_dump()
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise InvalidArgument(f"invalid phone capabilities: {problems}") from error


def to_e164(number: str) -> str:
    """`+1 (415) 555-0100` -> `+14155550100`; anything that is not E.164 is an InvalidArgument."""
    digits = re.sub(r"[\s().\-]", "", number.strip())
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not E164.match(digits):
        raise InvalidArgument(f"{number!r} is not an E.164 phone number (like +14155550100)")
    return digits


class Conversation(TenantTable):
    __tablename__ = "conversations"
    __table_args__ = (
        tenant_fk("contacts", "contact_id"),
        sa.Index(None, "workspace_id", "status", "last_message_at"),
        sa.Index(None, "workspace_id", "contact_id"),
        sa.Index(None, "workspace_id", "assigned_to"),
        sa.Index(None, "workspace_id", "last_inbound_at"),
    )
    contact_id: Mapped[uuid.UUID | None]
    channel: Mapped[ConversationChannel] = enum_column(ConversationChannel)
    status: Mapped[ConversationStatus] = enum_column(
        ConversationStatus, default=ConversationStatus.ACTIVE
    )
    subject: Mapped[str | None]
    #: Time of the newest message, or of creation while there is none (so the inbox sorts on it).
    last_message_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    last_inbound_at: Mapped[datetime | None]
    last_outbound_at: Mapped[datetime | None]
    message_count: Mapped[int] = counter_column()
    unread_count: Mapped[int] = counter_column()
    assigned_to: Mapped[uuid.UUID | None] = user_fk()
    tags: Mapped[list[str]] = tags_column()


class ConversationMessage(TenantTable):
    __tablename__ = "conversation_messages"
    __table_args__ = (
        tenant_fk("conversations", "conversation_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "conversation_id", "sent_at"),
        # A provider redelivering a webhook must not create the message twice.
        sa.Index(
            None, "workspace_id", "external_id", unique=True,
            postgresql_where=sa.text("external_id IS NOT NULL"),
        ),
    )
    conversation_id: Mapped[uuid.UUID]
    direction: Mapped[Direction] = enum_column(Direction)
    content: Mapped[str]
    content_type: Mapped[str] = mapped_column(default="text", server_default="text")
    sender_type: Mapped[SenderType] = enum_column(SenderType)
    #: A contact, user or agent id depending on sender_type (so no foreign key).
    sender_id: Mapped[uuid.UUID | None]
    #: The map's `metadata` (a reserved name on declarative models).
    meta: Mapped[JSON] = json_column()
    sent_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    is_read: Mapped[bool] = flag_column(False)
    read_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    external_id: Mapped[str | None]


class ConversationParticipant(TenantTable):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        tenant_fk("conversations", "conversation_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "conversation_id", "user_id"),
        sa.Index(None, "workspace_id", "user_id"),
    )
    conversation_id: Mapped[uuid.UUID]
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[ParticipantRole] = enum_column(
        ParticipantRole, default=ParticipantRole.PARTICIPANT
    )
    last_read_at: Mapped[datetime | None]
    notifications_enabled: Mapped[bool] = flag_column(True)


class WorkspacePhoneNumber(TenantTable):
    """A provider number. Unique across all workspaces: an incoming call or SMS to it must
    resolve to exactly one workspace."""

    __tablename__ = "workspace_phone_numbers"
    __table_args__ = (
        sa.UniqueConstraint("phone_number"),
        sa.CheckConstraint(f"phone_number ~ '{E164.pattern}'", name="phone_number_e164"),
    )
    phone_number: Mapped[str]
    friendly_name: Mapped[str | None]
    provider: Mapped[PhoneProvider] = enum_column(PhoneProvider)
    provider_sid: Mapped[str | None]  # the provider's id for the number
    capabilities: Mapped[JSON] = json_column()
    status: Mapped[PhoneNumberStatus] = enum_column(
        PhoneNumberStatus, default=PhoneNumberStatus.ACTIVE
    )
    monthly_price_cents: Mapped[int] = money_column()
    currency: Mapped[str] = currency_column()

    @validates("phone_number")
    def _validate_number(self, _key: str, value: str) -> str:
        return to_e164(value)

    @validates("capabilities")
    def _validate_capabilities(self, _key: str, value: Any) -> JSON:
        return normalize_capabilities(value)


class TeamChannel(TenantTable):
    __tablename__ = "team_channels"
    __table_args__ = (sa.Index(None, "workspace_id", "last_message_at"),)
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    type: Mapped[TeamChannelType] = enum_column(TeamChannelType, default=TeamChannelType.GROUP)
    description: Mapped[str | None]
    is_private: Mapped[bool] = flag_column(False)
    last_message_at: Mapped[datetime | None]
    member_count: Mapped[int] = counter_column()
    is_archived: Mapped[bool] = flag_column(False)


class TeamMessage(TenantTable):
    __tablename__ = "team_messages"
    __table_args__ = (
        tenant_fk("team_channels", "channel_id", ondelete="CASCADE"),
        tenant_fk("team_messages", "parent_message_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "channel_id", "sent_at"),
        sa.Index(None, "workspace_id", "parent_message_id"),
    )
    channel_id: Mapped[uuid.UUID]
    sender_id: Mapped[uuid.UUID | None] = user_fk()
    content: Mapped[str]
    content_type: Mapped[str] = mapped_column(default="text", server_default="text")
    attachments: Mapped[list[Any]] = json_column(default="[]")
    #: Replies point at the thread's first message; a reply to a reply is refused.
    parent_message_id: Mapped[uuid.UUID | None]
    thread_count: Mapped[int] = counter_column()
    is_pinned: Mapped[bool] = flag_column(False)
    is_edited: Mapped[bool] = flag_column(False)
    edited_at: Mapped[datetime | None]
    sent_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)


class Notification(TenantTable):
    __tablename__ = "notifications"
    __table_args__ = (sa.Index(None, "workspace_id", "user_id", "is_read", "created_at"),)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[NotificationType] = enum_column(NotificationType, default=NotificationType.INFO)
    title: Mapped[str]
    message: Mapped[str | None]
    link: Mapped[str | None]
    data: Mapped[JSON] = json_column()
    is_read: Mapped[bool] = flag_column(False)
    read_at: Mapped[datetime | None]
