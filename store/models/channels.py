"""Channels: inbound deliveries from Slack and phone providers, and links from a channel's own
identities (a Slack user, a phone number) to platform users.

A delivery is recorded once per `(workspace, channel, key)` — the Slack `event_id`, a call's
`CallSid` plus its step, an SMS's `MessageSid` — so a provider's retry finds the first row
instead of acting again. Its status says whether the work is still due: the worker lists
`pending` rows (and `running` rows whose lease ran out: a worker died) through
`neptune_due_work`, claims one with a conditional update, and marks it `done`; a failure puts it
back to `pending` with `retry_at` until `attempts` are spent (`failed`). A provider retry of a
`failed` delivery makes it due again, so a retried event is never dropped. `result` keeps what
was answered (a call step's TwiML), so a retried webhook gets the same answer.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    json_column,
    user_fk,
)


class DeliveryChannel(enum.StrEnum):
    SLACK = "slack"
    VOICE = "voice"
    SMS = "sms"


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class LinkProvider(enum.StrEnum):
    SLACK = "slack"
    PHONE = "phone"


class ChannelDelivery(TenantTable):
    __tablename__ = "channel_deliveries"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "channel", "key"),
        sa.Index(None, "status", "retry_at"),
        sa.CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )
    channel: Mapped[DeliveryChannel] = enum_column(DeliveryChannel)
    key: Mapped[str]
    payload: Mapped[JSON] = json_column()
    status: Mapped[DeliveryStatus] = enum_column(DeliveryStatus, default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = counter_column()
    retry_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None]
    result: Mapped[JSON] = json_column()
    error: Mapped[str | None]


class ChannelUserLink(TenantTable):
    """An explicit link: this Slack user id (or this E.164 number) is this member."""

    __tablename__ = "channel_user_links"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "provider", "external_id"),)
    provider: Mapped[LinkProvider] = enum_column(LinkProvider)
    external_id: Mapped[str]
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = user_fk()
