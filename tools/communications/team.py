"""Team chat and notifications: what members say to each other, and what the assistant tells a
member.

Notifications keep the call's idempotency key in their `data`, so a retried call finds the first
one; team messages, which have no metadata column, are found again through their audit row
(`tools.audit.replayed`).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from store.models.communications import (
    Notification,
    NotificationType,
    TeamChannelType,
    TeamMessage,
)
from store.repositories.communications import (
    NotificationRepository,
    TeamChannelRepository,
    TeamMessageRepository,
)
from tools.audit import record_change, replayed, snapshot
from tools.communications.common import ARGS, ROW
from tools.context import ToolContext
from tools.registry import Risk, tool
from tools.workspace import require_active_member

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
    earlier = await replayed(ctx, "create", "team_message")
    if earlier is not None:
        return await _team_result(ctx, await messages.get(earlier), True)
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
    await require_active_member(ctx, recipient)
    row = await notifications.create(
        user_id=recipient, type=args.type, title=args.title, message=args.message,
        link=args.link, data={"from_user_id": str(ctx.caller.user_id),
                              "idempotency_key": ctx.idempotency_key},
    )
    await record_change(ctx, "create", "notification", row.id,
                        after=snapshot(row, ["user_id", "type", "title", "message", "link"]))
    return _notification_result(row, False)
