"""AI / Neptune assistant repositories against the real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import ai as ai_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.ai import (
    ActionStatus,
    Channel,
    InsightStatus,
    InsightType,
    MessageRole,
    MessageStatus,
    Rating,
)
from store.repositories.ai import (
    ActionHistoryRepository,
    ConversationRepository,
    FeedbackRepository,
    InsightRepository,
    MessageRepository,
    PreferencesRepository,
    WorkspaceIntelligenceRepository,
)
from store.repositories.neptune import (
    AutonomyRepository,
    ConversationEventRepository,
    IngressEventRepository,
    MemoryFactRepository,
    UsageLedgerRepository,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


# -- conversations ----------------------------------------------------------------------------
async def test_conversation_crud_paging_and_filters(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = ConversationRepository(s, ws.scope)
        now = datetime.now(UTC)
        ids = []
        for i in range(5):
            row = await repo.create(user_id=ws.user_id, title=f"Chat {i}",
                                    last_message_at=now - timedelta(hours=i))
            ids.append(row.id)
        other = await repo.create(title="Slack thread", channel=Channel.SLACK,
                                  last_message_at=now + timedelta(minutes=1))
        page = await repo.recent(user_id=ws.user_id, limit=3)
        assert [c.id for c in page.items] == ids[:3] and page.next_cursor
        rest = await repo.recent(user_id=ws.user_id, limit=3, cursor=page.next_cursor)
        assert [c.id for c in rest.items] == ids[3:] and rest.next_cursor is None
        assert [c.id for c in (await repo.recent(channel=Channel.SLACK)).items] == [other.id]
        assert (await repo.recent(limit=1)).items[0].id == other.id

        renamed = await repo.rename(ids[0], "  Pipeline review  ")
        assert renamed.title == "Pipeline review"
        with pytest.raises(InvalidArgument):
            await repo.rename(ids[0], "   ")
        await repo.pin(ids[2])
        assert [c.id for c in await repo.pinned(user_id=ws.user_id)] == [ids[2]]
        archived = await repo.archive(ids[1])
        assert archived.is_archived
        live = await repo.recent(user_id=ws.user_id, limit=10)
        assert ids[1] not in [c.id for c in live.items]
        assert [c.id for c in (await repo.recent(archived=True)).items] == [ids[1]]
        assert len((await repo.recent(archived=None, user_id=ws.user_id)).items) == 5
        await repo.unarchive(ids[1])
        assert len((await repo.recent(user_id=ws.user_id)).items) == 5
        await repo.delete(ids[4])
        with pytest.raises(NotFound):
            await repo.get(ids[4])


async def test_conversation_external_key(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = ConversationRepository(s, ws.scope)
        key = "slack:T1:C1:1700000000.000100"
        first = await repo.open_for_key(key, channel=Channel.SLACK, user_id=ws.user_id)
        again = await repo.open_for_key(key, channel=Channel.SLACK)
        assert first.id == again.id and first.channel == Channel.SLACK
        assert (await repo.by_external_key(key)) is not None
        assert (await repo.by_external_key("slack:other")) is None
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await ConversationRepository(s, ws.scope).create(external_key=key)
    # The same key in another workspace is another conversation.
    other = await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        theirs = await ConversationRepository(s, other.scope).open_for_key(
            key, channel=Channel.SLACK
        )
        assert theirs.id != first.id


async def test_concurrent_opens_of_one_key_share_a_conversation(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()

    async def open_it() -> uuid.UUID:
        async with scoped_session(sessions, ws.scope) as s:
            row = await ConversationRepository(s, ws.scope).open_for_key(
                "sms:+15550001111", channel=Channel.SMS
            )
            await asyncio.sleep(0.05)
            return row.id

    ids = await asyncio.gather(*(open_it() for _ in range(4)))
    assert len(set(ids)) == 1


# -- messages ---------------------------------------------------------------------------------
async def test_messages_append_in_seq_order_and_update_conversation(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conversations = ConversationRepository(s, ws.scope)
        messages = MessageRepository(s, ws.scope)
        conv = await conversations.create(user_id=ws.user_id, title="Deals")
        before = conv.last_message_at
        user = await messages.append(conv.id, MessageRole.USER, "Create a deal for Acme",
                                     token_count=7)
        call = {"id": "call_1", "name": "create_deal", "arguments": {"name": "Acme"}}
        assistant, tool = await messages.append_many(conv.id, [
            {"role": MessageRole.ASSISTANT, "tool_calls": [call], "model": "gpt-4o",
             "tokens": {"prompt": 120, "completion": 18}, "prompt_ref": "system@abc123",
             "tool_schema_hashes": {"create_deal": "f00d"}},
            {"role": MessageRole.TOOL, "tool_call_id": "call_1", "content": '{"id": "d1"}'},
        ])
        final = await messages.append(conv.id, MessageRole.ASSISTANT, "",
                                      status=MessageStatus.STREAMING)
        assert [user.seq, assistant.seq, tool.seq, final.seq] == [1, 2, 3, 4]
        assert conv.message_count == 4 and conv.last_message_at >= before

        done = await messages.finish(final.id, content="Done: deal created.",
                                     status=MessageStatus.COMPLETE, token_count=5,
                                     response_time_ms=840)
        assert done.status == MessageStatus.COMPLETE
        with pytest.raises(InvalidArgument):
            await messages.finish(final.id, seq=9)

        _, ordered = await conversations.with_messages(conv.id)
        assert [m.seq for m in ordered] == [1, 2, 3, 4]
        assert ordered[1].tool_calls == [call] and ordered[2].tool_call_id == "call_1"
        assert [m.seq for m in await messages.after(conv.id, 2)] == [3, 4]
        history = await messages.history(conv.id)
        assert [m.seq for m in history] == [4, 3, 2, 1]
        assert [m.token_count for m in history][-1] == 7
        assert [m.seq for m in await messages.history(conv.id, before_seq=3)] == [2, 1]

        summary = await messages.append(conv.id, MessageRole.SUMMARY, "User created Acme deal.",
                                        summary_of_until_seq=3)
        assert (await messages.latest_summary(conv.id)).id == summary.id  # type: ignore[union-attr]
        assert conv.message_count == 4  # summaries are not messages of the conversation
        after_summary = await messages.history(conv.id, after_seq=3)
        assert [m.seq for m in after_summary] == [5, 4]


async def test_message_rules_are_enforced(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()
        messages = MessageRepository(s, ws.scope)
        with pytest.raises(InvalidArgument):
            await messages.append(conv.id, MessageRole.USER, "x", seq=5)
        with pytest.raises(NotFound):
            await messages.append(uuid.uuid4(), MessageRole.USER, "lost")
    with pytest.raises(InvalidArgument):
        async with scoped_session(sessions, ws.scope) as s:
            await MessageRepository(s, ws.scope).append(conv.id, MessageRole.TOOL, "no call id")
    with pytest.raises(InvalidArgument):
        async with scoped_session(sessions, ws.scope) as s:
            await MessageRepository(s, ws.scope).append(conv.id, MessageRole.SUMMARY, "no range")


async def test_concurrent_appends_get_distinct_consecutive_seqs(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()

    async def writer(name: str) -> None:
        for i in range(5):
            async with scoped_session(sessions, ws.scope) as s:
                await MessageRepository(s, ws.scope).append(conv.id, MessageRole.USER, f"{name}{i}")

    await asyncio.gather(*(writer(n) for n in "abc"))
    async with scoped_session(sessions, ws.scope) as s:
        conversation, rows = await ConversationRepository(s, ws.scope).with_messages(conv.id)
        assert [m.seq for m in rows] == list(range(1, 16))
        assert conversation.message_count == 15


async def test_conversation_delete_cascades_and_other_workspace_is_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, a.scope) as s:
        conv = await ConversationRepository(s, a.scope).create(title="Secret")
        msg = await MessageRepository(s, a.scope).append(conv.id, MessageRole.USER, "hi")
        action = await ActionHistoryRepository(s, a.scope).create(
            action_type="search_contacts", conversation_id=conv.id
        )
    async with scoped_session(sessions, b.scope) as s:
        convs = ConversationRepository(s, b.scope)
        for call in (convs.get(conv.id), convs.rename(conv.id, "mine"), convs.delete(conv.id),
                     convs.with_messages(conv.id), MessageRepository(s, b.scope).get(msg.id)):
            with pytest.raises(NotFound):
                await call
        with pytest.raises(NotFound):
            await MessageRepository(s, b.scope).append(conv.id, MessageRole.USER, "intrude")
        assert (await convs.recent()).items == []
    async with scoped_session(sessions, a.scope) as s:
        await ConversationRepository(s, a.scope).delete(conv.id)
        assert await MessageRepository(s, a.scope).count(conversation_id=conv.id) == 0
        kept = await ActionHistoryRepository(s, a.scope).get(action.id)
        assert kept.conversation_id is None


# -- preferences ------------------------------------------------------------------------------
async def test_preferences_get_or_create_and_validated_updates(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = PreferencesRepository(s, ws.scope)
        row = await repo.for_user(ws.user_id)
        assert (await repo.for_user(ws.user_id)).id == row.id
        assert repo.settings(row).timezone == "UTC"
        updated = await repo.update_preferences(ws.user_id, tone="friendly",
                                                timezone="Europe/Paris")
        settings = repo.settings(updated)
        assert (settings.tone, settings.timezone, settings.verbosity) == (
            "friendly", "Europe/Paris", "normal")
        for bad in ({"timezone": "Mars/Olympus"}, {"tone": "sarcastic"}, {"colour": "blue"},
                    {"language": "English!"}):
            with pytest.raises(InvalidArgument):
                await repo.update_preferences(ws.user_id, **bad)
        assert repo.settings(await repo.for_user(ws.user_id)).tone == "friendly"

        await repo.set_shortcut(ws.user_id, "/pipe", "Show my open pipeline")
        await repo.set_shortcut(ws.user_id, "/todo", "List my tasks due this week")
        row = await repo.set_shortcut(ws.user_id, "/pipe", "Show the pipeline by stage")
        assert row.shortcuts == [
            {"command": "/todo", "expansion": "List my tasks due this week"},
            {"command": "/pipe", "expansion": "Show the pipeline by stage"},
        ]
        with pytest.raises(InvalidArgument):
            await repo.set_shortcut(ws.user_id, "has space", "x")
        row = await repo.remove_shortcut(ws.user_id, "/todo")
        assert [sc["command"] for sc in row.shortcuts] == ["/pipe"]
        with pytest.raises(NotFound):
            await repo.remove_shortcut(ws.user_id, "/todo")

        for text in ["acme", "globex", "acme", "  "]:
            row = await repo.record_search(ws.user_id, text)
        assert row.recent_searches == ["acme", "globex"]
        for i in range(3):
            row = await repo.record_search(ws.user_id, f"q{i}", keep=3)
        assert row.recent_searches == ["q2", "q1", "q0"]
        row = await repo.set_favorite_agents(ws.user_id, ["Lead Scout", "Inbox", "Lead Scout"])
        assert row.favorite_agents == ["Lead Scout", "Inbox"]
        await repo.learn(ws.user_id, {"prefers_tables": True})
        row = await repo.learn(ws.user_id, {"active_hours": [9, 17]})
        assert row.learning_data == {"prefers_tables": True, "active_hours": [9, 17]}
    with pytest.raises(NotFound):
        async with scoped_session(sessions, ws.scope) as s:
            await PreferencesRepository(s, ws.scope).for_user(uuid.uuid4())


# -- action history ---------------------------------------------------------------------------
async def test_action_history_record_finish_and_queries(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()
        msg = await MessageRepository(s, ws.scope).append(conv.id, MessageRole.ASSISTANT, "")
        repo = ActionHistoryRepository(s, ws.scope)
        first = await repo.create(
            user_id=ws.user_id, conversation_id=conv.id, message_id=msg.id, tool_call_id="c1",
            action_type="create_deal", target="deal", input={"name": "Acme"},
            idempotency_key="turn1:c1", ai_model="gpt-4o",
        )
        assert first.status == ActionStatus.RUNNING and not first.success
        done = await repo.finish(first.id, ActionStatus.SUCCESS, output={"id": "d1"},
                                 duration_ms=120, tokens_used=50)
        assert done.success and done.output == {"id": "d1"} and done.tokens_used == 50
        # Rows of one transaction share now(); a later call is later in real use.
        second = await repo.create(conversation_id=conv.id, action_type="send_email",
                                   idempotency_key="turn1:c2",
                                   created_at=first.created_at + timedelta(seconds=1))
        await repo.finish(second.id, ActionStatus.ERROR, error="SMTP refused")
        await repo.create(action_type="create_deal", status=ActionStatus.PENDING_APPROVAL)

        assert (await repo.by_idempotency_key("turn1:c1")).id == first.id  # type: ignore[union-attr]
        assert await repo.by_idempotency_key("turn9:c9") is None
        assert len((await repo.for_tool("create_deal")).items) == 2
        assert [a.id for a in (await repo.for_tool("create_deal", user_id=ws.user_id)).items] == [
            first.id]
        assert [a.id for a in await repo.for_conversation(conv.id)] == [first.id, second.id]
        failed = await repo.failed()
        assert [a.id for a in failed.items] == [second.id] and failed.items[0].error
        assert (await repo.failed(action_type="create_deal")).items == []
        later = datetime.now(UTC) + timedelta(hours=1)
        assert (await repo.failed(since=later)).items == []
        with pytest.raises(Conflict):
            await repo.create(action_type="create_deal", idempotency_key="turn1:c1")


# -- insights ---------------------------------------------------------------------------------
async def test_insight_upsert_respects_dismissal_unless_data_changes(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    record = uuid.uuid4()
    async with scoped_session(sessions, ws.scope) as s:
        repo = InsightRepository(s, ws.scope)

        async def sweep(amount: int, **extra: Any) -> InsightStatus:
            row = await repo.upsert(
                f"stalled_deal:{record}", detector="stalled_deal", type=InsightType.WARNING,
                title=f"Deal stalled ({amount} days)", data={"days": amount},
                record_type="deal", record_id=record, **extra,
            )
            return row.status

        assert await sweep(14) == InsightStatus.PENDING
        insight = (await repo.for_record("deal", record))[0]
        assert await repo.mark_seen([insight.id]) == 1
        assert await sweep(14) == InsightStatus.SEEN
        dismissed = await repo.dismiss(insight.id)
        assert dismissed.dismissed_at is not None
        assert await sweep(14) == InsightStatus.DISMISSED
        assert await repo.count() == 1
        assert await sweep(21) == InsightStatus.PENDING
        revived = await repo.get(insight.id)
        assert revived.dismissed_at is None and revived.title == "Deal stalled (21 days)"
        acted = await repo.mark_acted(insight.id)
        assert acted.status == InsightStatus.ACTED
        assert await sweep(21) == InsightStatus.ACTED
        assert await sweep(21, data_hash="explicit-hash") == InsightStatus.PENDING


async def test_insight_lists_expiry_and_user_scope(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    other_user = (await make_workspace()).user_id
    deal = uuid.uuid4()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        repo = InsightRepository(s, ws.scope)

        async def add(name: str, priority: int, **fields: Any) -> uuid.UUID:
            row = await repo.upsert(name, detector="test", type=InsightType.OPPORTUNITY,
                                    title=name, priority=priority, **fields)
            return row.id

        low = await add("low", 10, record_type="deal", record_id=deal)
        high = await add("high", 90, record_type="deal", record_id=deal)
        mine = await add("mine", 50, user_id=ws.user_id)
        await add("theirs", 95, user_id=other_user)
        soon = await add("soon", 70, expires_at=now + timedelta(minutes=5))
        gone = await add("gone", 99, expires_at=now - timedelta(minutes=5))

        assert [i.id for i in await repo.for_record("deal", deal)] == [high, low]
        unseen = [i.id for i in await repo.unseen(user_id=ws.user_id)]
        assert unseen == [high, soon, mine, low]
        assert gone not in [i.id for i in await repo.unseen()]
        await repo.mark_seen([high, uuid.uuid4()])
        assert [i.id for i in await repo.for_record("deal", deal)] == [low]
        assert [i.id for i in await repo.for_record("deal", deal, include_seen=True)] == [high, low]
        assert await repo.mark_seen([]) == 0

        assert await repo.expire(now=now) == 1
        assert (await repo.get(gone)).status == InsightStatus.EXPIRED
        assert await repo.expire(now=now + timedelta(minutes=10)) == 1
        assert (await repo.get(soon)).status == InsightStatus.EXPIRED
        assert await add("gone", 99) == gone  # detected again: back to pending
        assert (await repo.get(gone)).status == InsightStatus.PENDING
        with pytest.raises(InvalidArgument):
            await add("mine", 50, status=InsightStatus.PENDING)  # lifecycle is not upserted
        with pytest.raises(InvalidArgument):
            await add("bad", 500)


# -- feedback ---------------------------------------------------------------------------------
async def test_feedback_rate_replace_counts(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()
        messages = MessageRepository(s, ws.scope)
        answer = await messages.append(conv.id, MessageRole.ASSISTANT, "42")
        other = await messages.append(conv.id, MessageRole.ASSISTANT, "43")
        repo = FeedbackRepository(s, ws.scope)
        first = await repo.rate(answer.id, Rating.UP, user_id=ws.user_id)
        again = await repo.rate(answer.id, Rating.DOWN, user_id=ws.user_id, comment="wrong")
        assert again.id == first.id and again.rating == Rating.DOWN and again.comment == "wrong"
        await repo.rate(other.id, Rating.UP, user_id=ws.user_id)
        assert await repo.counts() == {Rating.UP: 1, Rating.DOWN: 1}
        assert await repo.counts(since=datetime.now(UTC) + timedelta(hours=1)) == {
            Rating.UP: 0, Rating.DOWN: 0}
        assert [f.id for f in (await repo.negative()).items] == [first.id]
        assert len(await repo.for_message(answer.id)) == 1
        await messages.delete(answer.id)
        assert await repo.count() == 1
    with pytest.raises(NotFound):
        async with scoped_session(sessions, ws.scope) as s:
            await FeedbackRepository(s, ws.scope).rate(uuid.uuid4(), Rating.UP, user_id=None)


# -- workspace intelligence -------------------------------------------------------------------
async def test_workspace_intelligence_single_row_partial_put(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = WorkspaceIntelligenceRepository(s, ws.scope)
        assert await repo.current() is None
        first = await repo.put(updated_by=ws.user_id, company_profile={"industry": "Robotics"},
                               brand_voice="Plain, confident, no jargon.")
        second = await repo.put(updated_by=None, products=[{"name": "Fleet"}])
        assert second.id == first.id
        assert second.company_profile == {"industry": "Robotics"}
        assert second.products == [{"name": "Fleet"}]
        assert second.brand_voice == "Plain, confident, no jargon." and second.updated_by is None
        assert await repo.count() == 1
        with pytest.raises(Conflict):
            await repo.create()
    other = await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        assert await WorkspaceIntelligenceRepository(s, other.scope).current() is None


# -- demo -------------------------------------------------------------------------------------
async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5)
        await ai_demo.seed(ctx)
        conversations = ConversationRepository(s, ws.scope)
        assert await conversations.count() == len(ctx.ids["ai_conversations"]) >= 2
        first = (await conversations.recent(limit=1)).items[0]
        _, messages = await conversations.with_messages(first.id)
        assert len(messages) >= 2 and messages[0].role == MessageRole.USER
        assert first.message_count == len(messages)
        assert await PreferencesRepository(s, ws.scope).count() == 1
        assert await ActionHistoryRepository(s, ws.scope).count() >= 3
        assert len(await InsightRepository(s, ws.scope).unseen()) >= 2
        assert await WorkspaceIntelligenceRepository(s, ws.scope).current() is not None
        assert (await FeedbackRepository(s, ws.scope).counts())[Rating.DOWN] == 1
        # Neptune's own tables tell the same story as the conversations.
        ledger = UsageLedgerRepository(s, ws.scope)
        answers = sum(1 for m in messages if m.role == MessageRole.ASSISTANT)
        assert await ledger.count(conversation_id=first.id) == answers
        assert await ledger.tokens_since(ctx.now - timedelta(days=30)) > 0
        events = await ConversationEventRepository(s, ws.scope).after(first.id)
        assert events[-1].type == "done" and [e.seq for e in events] == list(
            range(1, len(events) + 1))
        slack = await conversations.by_external_key("slack:T0DEMO:C0SALES:1712059200.000100")
        assert slack is not None
        assert not await IngressEventRepository(s, ws.scope).claim("slack", "Ev1712059200000100")
        assert await AutonomyRepository(s, ws.scope).eligible(ws.user_id, "update_deal")
        assert len(await MemoryFactRepository(s, ws.scope).for_user(ws.user_id)) == 3
