"""Communications demo data: an inbox of customer conversations (a third of them waiting on a
reply), the workspace's phone number, team channels with threads, and notifications.

Conversation counters and timestamps are computed here from the messages written with them,
with the same rules `ConversationRepository.add_message` applies, because inserting in bulk is
what keeps the demo fast.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from store.demo.context import DemoContext
from store.models.communications import (
    ConversationChannel,
    ConversationStatus,
    NotificationType,
    ParticipantRole,
    PhoneProvider,
    SenderType,
    TeamChannelType,
)
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

#: subject, then the exchange: customer and team alternate, the customer first.
THREADS = [
    ("Pricing for 50 seats", [
        "Hi! Could you send pricing for 50 seats on the annual plan?",
        "Happy to help. 50 seats on annual billing is $2,900 a month, premium support included.",
        "Thanks. Is there a discount if we sign before the end of the quarter?",
        "Yes: 10% off the first year if the contract is signed by the 30th.",
        "Great, please send the contract over to our legal team.",
        "Done, it's in your inbox. Let me know if anything needs changing.",
    ]),
    ("Can't log in after the update", [
        "Since this morning's update none of my team can log in. We get error 403.",
        "Sorry about that! We found the cause and rolled out a fix. Could you try again?",
        "Works now, thank you. Will this happen again?",
        "We've added a check so it can't. I'll send you the incident report tomorrow.",
    ]),
    ("Question about invoice", [
        "Our last invoice shows 60 seats but we only have 45 active users.",
        "You're right, 15 seats were not removed after your downgrade. I'll issue a credit note.",
        "Perfect. Can the credit be applied to the next invoice?",
        "Yes, it will show on next month's invoice automatically.",
    ]),
    ("Demo request", [
        "We'd like a demo of the workflow builder for our ops team.",
        "Of course! Would Tuesday at 10am or Thursday at 2pm work?",
        "Thursday at 2pm is perfect. Can you include the Salesforce integration?",
        "Booked, and yes: our solutions engineer will show the Salesforce sync.",
    ]),
    ("Onboarding schedule", [
        "When can we start onboarding? We have 12 new hires next week.",
        "We can run the kickoff Monday. I'll send a calendar invite and the checklist.",
        "Monday works. Do they need accounts before the session?",
        "No, we'll create them live during the kickoff.",
    ]),
    ("Renewal terms", [
        "Our contract renews next month. Can we move to quarterly billing?",
        "Yes, quarterly billing is available on the same terms. I'll update the renewal quote.",
        "Thanks. Please also add two more admin seats.",
        "Added. The updated quote is attached.",
    ]),
]
CHANNEL_WEIGHTS = {
    ConversationChannel.EMAIL: 40, ConversationChannel.SMS: 20,
    ConversationChannel.WHATSAPP: 15, ConversationChannel.LIVE_CHAT: 15,
    ConversationChannel.SOCIAL: 5, ConversationChannel.CALL: 5,
}
AREA_CODES = ["415", "628", "510", "650", "408", "212", "646", "312", "617", "206"]


async def seed(ctx: DemoContext) -> None:
    await _phone_number(ctx)
    await _inbox(ctx)
    await _team_chat(ctx)
    await _notifications(ctx)


def demo_phone_number(workspace_id: uuid.UUID) -> str:
    """A fictional (555) number derived from the workspace, so demo workspaces never collide on
    the globally unique phone number."""
    n = workspace_id.int
    return f"+1{AREA_CODES[n % len(AREA_CODES)]}555{(n // 10) % 10_000:04d}"


async def _phone_number(ctx: DemoContext) -> None:
    row = {
        "phone_number": demo_phone_number(ctx.scope.workspace_id),
        "friendly_name": f"{ctx.company_name} main line", "provider": PhoneProvider.TWILIO,
        "provider_sid": "PN" + f"{ctx.rng.getrandbits(128):032x}",
        "capabilities": {"voice": True, "sms": True, "mms": False},
        "monthly_price_cents": 115, "currency": "USD",
    }
    ctx.remember("workspace_phone_numbers",
                 await PhoneNumberRepository(ctx.session, ctx.scope).create_many([row]))


@dataclass
class _Conversation:
    row: dict[str, Any]
    messages: list[dict[str, Any]]


def _schedule(ctx: DemoContext, count: int, awaiting: bool) -> list[datetime]:
    """Message times, oldest first; a conversation awaiting a reply ended 2-72 hours ago."""
    if awaiting:
        last = ctx.now - timedelta(hours=ctx.rng.randint(2, 72), minutes=ctx.rng.randint(0, 59))
    else:
        last = ctx.now - timedelta(minutes=ctx.rng.randint(10, 60 * 24 * 20))
    times = [last]
    for _ in range(count - 1):
        times.append(times[-1] - timedelta(minutes=ctx.rng.randint(5, 60 * 8)))
    return times[::-1]


def _conversation(ctx: DemoContext, i: int) -> _Conversation:
    subject, lines = ctx.rng.choice(THREADS)
    awaiting = i % 3 == 0  # the customer spoke last
    count = ctx.rng.randint(1, len(lines) // 2) * 2 - (1 if awaiting else 0)
    contact_id, owner = ctx.pick("contacts"), ctx.user()
    channel = ctx.rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
    times = _schedule(ctx, count, awaiting)
    messages = [
        _message(ctx, lines[n], at, inbound=n % 2 == 0, unread=awaiting and n == count - 1,
                 contact_id=contact_id, owner=owner, channel=channel)
        for n, at in enumerate(times)
    ]
    return _Conversation(_conversation_row(ctx, i, subject, channel, contact_id, owner, messages),
                         messages)


def _message(
    ctx: DemoContext, content: str, at: datetime, *, inbound: bool, unread: bool,
    contact_id: uuid.UUID, owner: uuid.UUID, channel: ConversationChannel,
) -> dict[str, Any]:
    """A customer message, or a reply by the owner (or now and then by one of the AI agents)."""
    agents = ctx.ids.get("agents") or []
    sender: tuple[SenderType, uuid.UUID] = (SenderType.CONTACT, contact_id)
    if not inbound:
        by_agent = bool(agents) and ctx.rng.random() < 0.2
        sender = (SenderType.AGENT, ctx.rng.choice(agents)) if by_agent else (
            SenderType.USER, owner)
    texting = channel in (ConversationChannel.SMS, ConversationChannel.WHATSAPP)
    return {
        "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
        "content": content, "sent_at": at, "created_at": at,
        "sender_type": sender[0], "sender_id": sender[1],
        "is_read": not unread,
        "read_at": at + timedelta(minutes=3) if inbound and not unread else None,
        "delivered_at": None if inbound else at + timedelta(seconds=20),
        "external_id": f"SM{ctx.rng.getrandbits(128):032x}" if texting else None,
    }


def _status(i: int) -> ConversationStatus:
    if i % 3 == 0:
        return ConversationStatus.ACTIVE  # waiting on us: always in the inbox
    if i % 11 == 5:
        return ConversationStatus.SPAM
    return ConversationStatus.CLOSED if i % 5 == 4 else (
        ConversationStatus.ARCHIVED if i % 7 == 2 else ConversationStatus.ACTIVE)


def _conversation_row(
    ctx: DemoContext, i: int, subject: str, channel: ConversationChannel,
    contact_id: uuid.UUID, owner: uuid.UUID, messages: list[dict[str, Any]],
) -> dict[str, Any]:
    inbound = [m["sent_at"] for m in messages if m["direction"] == Direction.INBOUND]
    outbound = [m["sent_at"] for m in messages if m["direction"] == Direction.OUTBOUND]
    return {
        "contact_id": contact_id, "channel": channel, "status": _status(i),
        "subject": subject if channel == ConversationChannel.EMAIL else None,
        "assigned_to": owner, "created_at": messages[0]["sent_at"],
        "message_count": len(messages), "last_message_at": messages[-1]["sent_at"],
        "last_inbound_at": max(inbound, default=None),
        "last_outbound_at": max(outbound, default=None),
        "unread_count": sum(1 for m in messages if not m["is_read"]),
        "tags": ctx.rng.sample(["billing", "support", "sales", "urgent", "onboarding"],
                               k=ctx.rng.randint(0, 2)),
    }


async def _inbox(ctx: DemoContext) -> None:
    conversations = [_conversation(ctx, i) for i in range(ctx.count(30, minimum=6))]
    ids = ctx.remember("conversations", await ConversationRepository(ctx.session, ctx.scope)
                       .create_many([c.row for c in conversations]))
    messages = [{**m, "conversation_id": cid}
                for cid, c in zip(ids, conversations, strict=True) for m in c.messages]
    ctx.remember("conversation_messages", await ConversationMessageRepository(
        ctx.session, ctx.scope).create_many(messages))
    participants = [{"conversation_id": cid, "user_id": c.row["assigned_to"],
                     "role": ParticipantRole.OWNER, "last_read_at": c.messages[-1]["sent_at"]}
                    for cid, c in zip(ids, conversations, strict=True)]
    ctx.remember("conversation_participants", await ConversationParticipantRepository(
        ctx.session, ctx.scope).create_many(participants))


TEAM_CHANNELS = [
    ("general", TeamChannelType.GENERAL, "Company-wide chatter", [
        "Morning all! Coffee machine on 3 is fixed.",
        "Reminder: all-hands Friday at 4pm.",
        "Welcome to our two new teammates in support!",
        "Who's up for lunch at the taco place?",
    ]),
    ("sales", TeamChannelType.GROUP, "Deals, pipeline and wins", [
        "Just closed the Globex expansion, 120 seats!",
        "Anyone have a good case study for logistics companies?",
        "Pipeline review moved to Wednesday 11am.",
        "Initech asked for a security questionnaire, who owns those?",
    ]),
    ("announcements", TeamChannelType.ANNOUNCEMENT, "Official updates", [
        "Q3 goals are published in the handbook.",
        "New expense policy: receipts are required above $25.",
        "Office closed Monday for the public holiday.",
    ]),
]
REPLIES = ["Congrats!", "On it.", "Thanks for the heads up.", "I can take this one.", "+1"]


async def _team_chat(ctx: DemoContext) -> None:
    channels = [{"name": name, "type": kind, "description": about, "created_by": ctx.user_ids[0],
                 "member_count": len(ctx.user_ids), "is_private": False}
                for name, kind, about, _ in TEAM_CHANNELS]
    channel_repo = TeamChannelRepository(ctx.session, ctx.scope)
    channel_ids = ctx.remember("team_channels", await channel_repo.create_many(channels))
    posts = [post for channel_id, spec in zip(channel_ids, TEAM_CHANNELS, strict=True)
             for post in _posts(ctx, channel_id, spec[1], spec[3])]
    messages = TeamMessageRepository(ctx.session, ctx.scope)
    post_ids = ctx.remember("team_messages", await messages.create_many(posts))
    replies = [reply for post_id, post in zip(post_ids, posts, strict=True)
               for reply in _replies(ctx, post_id, post)]
    ctx.remember("team_messages", await messages.create_many(replies))
    for channel_id in channel_ids:
        times = [m["sent_at"] for m in posts + replies if m["channel_id"] == channel_id]
        await channel_repo.update(channel_id, last_message_at=max(times))


def _posts(
    ctx: DemoContext, channel_id: uuid.UUID, kind: TeamChannelType, lines: list[str]
) -> list[dict[str, Any]]:
    """Top-level messages a few hours apart; the first announcement is pinned; about a third
    start a thread (their reply count is set here, the replies written after them)."""
    at = ctx.days_ago(6, 14)
    posts = []
    for n, line in enumerate(lines):
        at += timedelta(hours=ctx.rng.randint(1, 30))
        posts.append({
            "channel_id": channel_id, "sender_id": ctx.user(), "content": line, "sent_at": at,
            "created_at": at, "is_pinned": kind == TeamChannelType.ANNOUNCEMENT and n == 0,
            "thread_count": ctx.rng.randint(1, 3) if ctx.rng.random() < 0.35 else 0,
        })
    return posts


def _replies(ctx: DemoContext, post_id: uuid.UUID, post: dict[str, Any]) -> list[dict[str, Any]]:
    return [{
        "channel_id": post["channel_id"], "parent_message_id": post_id, "sender_id": ctx.user(),
        "content": ctx.rng.choice(REPLIES),
        "sent_at": post["sent_at"] + timedelta(minutes=5 * (k + 1)),
        "created_at": post["sent_at"] + timedelta(minutes=5 * (k + 1)),
    } for k in range(post["thread_count"])]


async def _notifications(ctx: DemoContext) -> None:
    invoices = ctx.ids.get("invoices") or []
    templates = [
        (NotificationType.MENTION, "You were mentioned in #sales", "/team/sales"),
        (NotificationType.ASSIGNMENT, "A new lead was assigned to you", "/crm/contacts"),
        (NotificationType.WARNING, "An invoice is overdue", "/finance/invoices"),
        (NotificationType.SUCCESS, "Campaign completed: Spring product update", "/marketing"),
        (NotificationType.REMINDER, "Follow up on 3 unanswered conversations", "/inbox"),
        (NotificationType.INFO, "Weekly pipeline report is ready", "/reports/pipeline"),
        (NotificationType.ERROR, "Google Ads sync failed: token expired", "/settings/channels"),
    ]
    rows = []
    for i in range(ctx.count(20, minimum=len(templates))):
        kind, title, link = templates[i % len(templates)]
        created = ctx.days_ago(0, 14)
        read = i % 3 == 2
        data = {"invoice_id": str(ctx.rng.choice(invoices))} if invoices and kind == (
            NotificationType.WARNING) else {}
        rows.append({"user_id": ctx.user_ids[i % len(ctx.user_ids)], "type": kind,
                     "title": title, "link": link, "data": data, "created_at": created,
                     "message": None, "is_read": read,
                     "read_at": created + timedelta(hours=1) if read else None})
    ctx.remember("notifications",
                 await NotificationRepository(ctx.session, ctx.scope).create_many(rows))
