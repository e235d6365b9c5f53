"""Neptune's own tables (usage ledger, events, ingress de-duplication, autonomy, memory)
against the real database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.ai import MessageRole
from store.models.neptune import IngressStatus, UsageStatus
from store.repositories.ai import ConversationRepository, MessageRepository
from store.repositories.neptune import (
    AutonomyRepository,
    ConversationEventRepository,
    IngressEventRepository,
    MemoryFactRepository,
    UsageLedgerRepository,
    UsageSummary,
    start_of_day,
    wilson_lower_bound,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace

Sessions = async_sessionmaker[AsyncSession]


def basis(dim: int, *weights: tuple[int, float]) -> list[float]:
    """A hand-made vector: zeros except the given (index, value) pairs."""
    vector = [0.0] * dim
    for index, value in weights:
        vector[index] = value
    return vector


# -- usage ledger -----------------------------------------------------------------------------
async def test_usage_ledger_budgets_and_summary(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws, other = await make_workspace(), await make_workspace()
    now = datetime(2025, 3, 14, 15, 0, tzinfo=UTC)
    yesterday = now - timedelta(days=1)
    async with scoped_session(sessions, ws.scope) as s:
        repo = UsageLedgerRepository(s, ws.scope)
        conv = await ConversationRepository(s, ws.scope).create()
        await repo.create(user_id=ws.user_id, conversation_id=conv.id, model="gpt-4o",
                          provider="openai", prompt_tokens=1000, completion_tokens=200,
                          cached_tokens=300, cost_usd_micros=4500, latency_ms=900,
                          created_at=now - timedelta(hours=2))
        await repo.create(model="gpt-4o", prompt_tokens=500, completion_tokens=50,
                          cost_usd_micros=2000, created_at=now - timedelta(hours=1))
        await repo.create(model="claude-3-5-haiku", prompt_tokens=100, completion_tokens=10,
                          cost_usd_micros=100, status=UsageStatus.ERROR,
                          created_at=now - timedelta(minutes=5))
        await repo.create(model="gpt-4o", prompt_tokens=7000, completion_tokens=700,
                          cost_usd_micros=30000, created_at=yesterday)
    with pytest.raises(InvalidArgument):
        async with scoped_session(sessions, ws.scope) as s:
            await UsageLedgerRepository(s, ws.scope).create(model="gpt-4o", prompt_tokens=-1)
    async with scoped_session(sessions, other.scope) as s:
        await UsageLedgerRepository(s, other.scope).create(
            model="gpt-4o", prompt_tokens=99999, created_at=now - timedelta(minutes=1)
        )
    async with scoped_session(sessions, ws.scope) as s:
        repo = UsageLedgerRepository(s, ws.scope)
        assert await repo.tokens_today(now=now) == 1200 + 550 + 110
        assert await repo.tokens_since(start_of_day(now), user_id=ws.user_id) == 1200
        assert await repo.tokens_since(yesterday - timedelta(hours=1)) == 1860 + 7700
        assert await repo.cost_since(start_of_day(now)) == 6600
        summary = await repo.summary(yesterday - timedelta(hours=1))
        assert summary == [
            UsageSummary(date(2025, 3, 13), "gpt-4o", 1, 7000, 700, 0, 30000),
            UsageSummary(date(2025, 3, 14), "claude-3-5-haiku", 1, 100, 10, 0, 100),
            UsageSummary(date(2025, 3, 14), "gpt-4o", 2, 1500, 250, 300, 6500),
        ]
        assert len(await repo.summary(yesterday - timedelta(hours=1), until=start_of_day(now))) == 1


def test_start_of_day_is_utc_midnight() -> None:
    paris = datetime.fromisoformat("2025-03-15T00:30:00+01:00")  # still the 14th in UTC
    assert start_of_day(paris) == datetime(2025, 3, 14, tzinfo=UTC)


# -- conversation events ----------------------------------------------------------------------
async def test_conversation_events_append_and_resume(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()
        repo = ConversationEventRepository(s, ws.scope)
        start = await repo.append(conv.id, "turn.start", {"turn": 1})
        deltas = await repo.append_many(conv.id, [("text.delta", {"text": "Hel"}),
                                                  ("text.delta", {"text": "lo"})])
        done = await repo.append(conv.id, "done")
        assert [start.seq, *(d.seq for d in deltas), done.seq] == [1, 2, 3, 4]
        assert done.payload == {}
        assert await repo.last_seq(conv.id) == 4
        missed = await repo.after(conv.id, 2)
        assert [(e.seq, e.type) for e in missed] == [(3, "text.delta"), (4, "done")]
        assert [e.seq for e in await repo.after(conv.id, limit=2)] == [1, 2]
        assert await repo.after(conv.id, 4) == []
        # Message seqs and event seqs are separate sequences.
        message = await MessageRepository(s, ws.scope).append(conv.id, MessageRole.USER, "hi")
        assert message.seq == 1
    with pytest.raises(NotFound):
        async with scoped_session(sessions, ws.scope) as s:
            await ConversationEventRepository(s, ws.scope).append(uuid.uuid4(), "done")
    async with scoped_session(sessions, ws.scope) as s:
        await ConversationRepository(s, ws.scope).delete(conv.id)
        assert await ConversationEventRepository(s, ws.scope).count() == 0


async def test_concurrent_event_appends_stay_gapless(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        conv = await ConversationRepository(s, ws.scope).create()

    async def writer(name: str) -> None:
        for i in range(6):
            async with scoped_session(sessions, ws.scope) as s:
                await ConversationEventRepository(s, ws.scope).append(conv.id, name, {"i": i})
                await asyncio.sleep(0)

    await asyncio.gather(*(writer(n) for n in ("a", "b", "c")))
    async with scoped_session(sessions, ws.scope) as s:
        events = await ConversationEventRepository(s, ws.scope).after(conv.id)
        assert [e.seq for e in events] == list(range(1, 19))


async def test_events_of_another_workspace_are_invisible(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, a.scope) as s:
        conv = await ConversationRepository(s, a.scope).create()
        event = await ConversationEventRepository(s, a.scope).append(conv.id, "done")
    async with scoped_session(sessions, b.scope) as s:
        repo = ConversationEventRepository(s, b.scope)
        assert await repo.after(conv.id) == []
        with pytest.raises(NotFound):
            await repo.get(event.id)
    with pytest.raises(NotFound):
        async with scoped_session(sessions, b.scope) as s:
            await ConversationEventRepository(s, b.scope).append(conv.id, "intrude")


# -- ingress de-duplication -------------------------------------------------------------------
async def test_ingress_claim_deduplicates_and_allows_retry_after_failure(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = IngressEventRepository(s, ws.scope)
        assert await repo.claim("slack", "Ev01", payload_hash="abc")
        assert not await repo.claim("slack", "Ev01")
        assert await repo.claim("twilio", "Ev01")  # another provider's id space
        failed = await repo.mark_failed("slack", "Ev01", "model timeout")
        assert failed.status == IngressStatus.FAILED and failed.error == "model timeout"
        assert await repo.claim("slack", "Ev01")
        assert not await repo.claim("slack", "Ev01")
        retried = await repo.find_event("slack", "Ev01")
        assert retried is not None
        assert (retried.status, retried.attempts, retried.error) == (
            IngressStatus.RECEIVED, 2, None)
        done = await repo.mark_processed("slack", "Ev01")
        assert done.status == IngressStatus.PROCESSED and done.processed_at is not None
        assert not await repo.claim("slack", "Ev01")
        assert not await repo.claim("twilio", "Ev01", stale_after=timedelta(hours=1))
        assert await repo.claim("twilio", "Ev01", stale_after=timedelta(seconds=-1))
        with pytest.raises(InvalidArgument):
            await repo.mark_processed("slack", "never-claimed")
    other = await make_workspace()
    async with scoped_session(sessions, other.scope) as s:
        assert await IngressEventRepository(s, other.scope).claim("slack", "Ev01")


async def test_concurrent_deliveries_claim_exactly_once(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()

    async def deliver() -> bool:
        async with scoped_session(sessions, ws.scope) as s:
            first = await IngressEventRepository(s, ws.scope).claim("slack", "EvRace")
            await asyncio.sleep(0.05)
            return first

    results = await asyncio.gather(*(deliver() for _ in range(5)))
    assert sorted(results) == [False, False, False, False, True]


# -- autonomy ---------------------------------------------------------------------------------
def test_wilson_lower_bound_needs_evidence() -> None:
    assert wilson_lower_bound(0, 0) == 0.0
    assert round(wilson_lower_bound(5, 0), 2) == 0.57
    assert round(wilson_lower_bound(20, 0), 2) == 0.84
    assert wilson_lower_bound(19, 1) < wilson_lower_bound(20, 0)
    assert wilson_lower_bound(2, 8) < 0.5


async def test_autonomy_learns_from_approvals_and_rejections(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = AutonomyRepository(s, ws.scope)
        for _ in range(4):
            row = await repo.record_approval(ws.user_id, "update_deal")
        assert row.approvals == 4 and not await repo.eligible(ws.user_id, "update_deal")
        with pytest.raises(Conflict):
            await repo.enable_auto_execute(ws.user_id, "update_deal")
        row = await repo.record_approval(ws.user_id, "update_deal")
        assert row.approvals == 5 and round(row.confidence, 2) == 0.57
        assert await repo.eligible(ws.user_id, "update_deal")
        assert not await repo.may_auto_execute(ws.user_id, "update_deal")
        enabled = await repo.enable_auto_execute(ws.user_id, "update_deal")
        assert enabled.auto_execute_enabled
        assert await repo.may_auto_execute(ws.user_id, "update_deal")

        row = await repo.record_rejection(ws.user_id, "update_deal")
        assert row.rejections == 1 and not row.auto_execute_enabled
        assert row.last_rejected_at is not None
        assert not await repo.eligible(ws.user_id, "update_deal")  # rejected last
        for _ in range(3):
            row = await repo.record_approval(ws.user_id, "update_deal")
        assert not await repo.eligible(ws.user_id, "update_deal")  # rejected within 30 days
        assert row.last_rejected_at is not None
        await repo.update(row.id, last_rejected_at=row.last_rejected_at - timedelta(days=31))
        assert await repo.eligible(ws.user_id, "update_deal")
        assert not await repo.may_auto_execute(ws.user_id, "update_deal")

        await repo.record_rejection(ws.user_id, "send_email")
        assert not await repo.eligible(ws.user_id, "send_email")
        assert not await repo.eligible(ws.user_id, "never_used")
        await repo.disable_auto_execute(ws.user_id, "never_used")
        assert [r.tool_name for r in await repo.for_user(ws.user_id)] == [
            "send_email", "update_deal"]
    with pytest.raises(NotFound):
        async with scoped_session(sessions, ws.scope) as s:
            await AutonomyRepository(s, ws.scope).record_approval(uuid.uuid4(), "x")


async def test_autonomy_concurrent_approvals_all_count(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()

    async def approve() -> None:
        async with scoped_session(sessions, ws.scope) as s:
            await AutonomyRepository(s, ws.scope).record_approval(ws.user_id, "create_task")

    await asyncio.gather(*(approve() for _ in range(6)))
    async with scoped_session(sessions, ws.scope) as s:
        row = await AutonomyRepository(s, ws.scope).find_for(ws.user_id, "create_task")
        assert row is not None and row.approvals == 6
        assert row.confidence == pytest.approx(wilson_lower_bound(6, 0))


# -- memory facts -----------------------------------------------------------------------------
async def test_memory_facts_visibility_and_vector_search(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws, other = await make_workspace(), await make_workspace()
    model = "bge-small"
    async with scoped_session(sessions, other.scope) as s:
        await MemoryFactRepository(s, other.scope).remember(
            "Their secret", embedding=basis(384, (0, 1.0)), embedding_model=model
        )
    async with scoped_session(sessions, ws.scope) as s:
        repo = MemoryFactRepository(s, ws.scope)
        tz = await repo.remember("Prefers meetings after 10am", user_id=ws.user_id,
                                 source="conversation",
                                 embedding=basis(384, (0, 1.0), (1, 0.1)), embedding_model=model)
        fiscal = await repo.remember("Fiscal year starts in April",
                                     embedding=basis(384, (1, 1.0)), embedding_model=model)
        other_model = await repo.remember("Same vector, other model",
                                          embedding=basis(384, (0, 1.0)), embedding_model="e5")
        big = await repo.remember("A 1536-dimension fact", embedding=basis(1536, (0, 1.0)),
                                  embedding_model=model)
        pending = await repo.remember("  Not embedded yet  ", user_id=ws.user_id)
        assert pending.content == "Not embedded yet" and pending.embedding_dim is None

        hits = await repo.search(basis(384, (0, 1.0)), embedding_model=model,
                                 user_id=ws.user_id, k=5)
        assert [h.fact.id for h in hits] == [tz.id, fiscal.id]
        assert hits[0].similarity == pytest.approx(0.995, abs=0.001)
        assert hits[1].similarity == pytest.approx(0.0, abs=1e-6)
        assert [h.fact.id for h in await repo.search(
            basis(384, (0, 1.0)), embedding_model=model, user_id=None)] == [fiscal.id]
        assert [h.fact.id for h in await repo.search(
            basis(384, (0, 1.0)), embedding_model="e5")] == [other_model.id]
        assert [h.fact.id for h in await repo.search(
            basis(1536, (0, 1.0)), embedding_model=model)] == [big.id]

        mine = await repo.for_user(ws.user_id)
        assert {f.id for f in mine} == {tz.id, fiscal.id, other_model.id, big.id, pending.id}
        assert {f.id for f in await repo.for_user(ws.user_id, include_workspace=False)} == {
            tz.id, pending.id}
        assert [f.id for f in await repo.without_embedding()] == [pending.id]
        embedded = await repo.set_embedding(pending.id, basis(384, (2, 1.0)), model)
        assert embedded.embedding_dim == 384
        assert await repo.without_embedding() == []
        with pytest.raises(InvalidArgument):
            await repo.remember("   ")
        with pytest.raises(InvalidArgument):
            await repo.remember("no model", embedding=[0.1, 0.2])
        await repo.delete(fiscal.id)
        assert await repo.find(fiscal.id) is None
