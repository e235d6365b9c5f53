"""Repositories for Neptune's own tables: usage ledger, conversation events, ingress
de-duplication, autonomy learning and memory facts."""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.errors import Conflict, InvalidArgument
from store.models.base import JSON
from store.models.neptune import (
    AccessKey,
    ConversationEvent,
    HttpIdempotency,
    IngressEvent,
    IngressStatus,
    MemoryFact,
    OutboundChannel,
    OutboundMessage,
    OutboundStatus,
    RateLimitBucket,
    UsageLedger,
    UserAutonomyPreference,
)
from store.repositories.ai import ScopedRepository, execute_translated
from store.repositories.base import utcnow
from store.repositories.knowledge import cosine_distance, enable_iterative_scan

#: A tool may be offered for auto-execution after this many approvals ...
MIN_APPROVALS = 5
#: ... when the Wilson lower bound of its approval rate (95%) reaches this.
MIN_CONFIDENCE = 0.55
#: ... and no rejection within this window.
REJECTION_MEMORY = timedelta(days=30)


# -- usage ledger -----------------------------------------------------------------------------
@dataclass(frozen=True)
class UsageSummary:
    day: date
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    cost_usd_micros: int


def start_of_day(moment: datetime) -> datetime:
    """Midnight UTC of the UTC day `moment` falls in: budgets reset per UTC day."""
    utc = moment.astimezone(UTC)
    return datetime.combine(utc.date(), datetime.min.time(), tzinfo=UTC)


class UsageLedgerRepository(ScopedRepository[UsageLedger]):
    model = UsageLedger

    async def tokens_since(self, since: datetime, *, user_id: uuid.UUID | None = None) -> int:
        """Prompt plus completion tokens spent since `since` (cached tokens are part of the
        prompt count, as providers report them)."""
        where = [UsageLedger.created_at >= since]
        if user_id is not None:
            where.append(UsageLedger.user_id == user_id)
        total = sa.func.coalesce(
            sa.func.sum(UsageLedger.prompt_tokens + UsageLedger.completion_tokens), 0
        )
        return await self._scalar_int(total, where)

    async def tokens_today(self, *, now: datetime | None = None) -> int:
        """The workspace's tokens for the current UTC day: what per-tier budgets compare to."""
        return await self.tokens_since(start_of_day(now or utcnow()))

    def tokens_today_query(self, *, now: datetime | None = None) -> sa.Select[Any]:
        """`tokens_today` as a statement, to embed in a larger query."""
        total = sa.func.coalesce(
            sa.func.sum(UsageLedger.prompt_tokens + UsageLedger.completion_tokens), 0
        )
        return sa.select(total).where(UsageLedger.workspace_id == self.scope.workspace_id,
                                      UsageLedger.created_at >= start_of_day(now or utcnow()))

    async def cost_since(self, since: datetime) -> int:
        total = sa.func.coalesce(sa.func.sum(UsageLedger.cost_usd_micros), 0)
        return await self._scalar_int(total, [UsageLedger.created_at >= since])

    async def _scalar_int(
        self, expression: sa.ColumnElement[Any], where: list[sa.ColumnElement[bool]]
    ) -> int:
        stmt = sa.select(expression).where(
            UsageLedger.workspace_id == self.scope.workspace_id, *where
        )
        return int(await self.session.scalar(stmt) or 0)

    async def summary(self, since: datetime, until: datetime | None = None, *,
                      user_id: uuid.UUID | None = None) -> list[UsageSummary]:
        """Calls, tokens and cost per UTC day and model, oldest day first (one user's only,
        when `user_id` is given)."""
        day = sa.cast(sa.func.timezone("UTC", UsageLedger.created_at), sa.Date).label("day")
        stmt = (
            sa.select(
                day, UsageLedger.model, sa.func.count(),
                sa.func.sum(UsageLedger.prompt_tokens), sa.func.sum(UsageLedger.completion_tokens),
                sa.func.sum(UsageLedger.cached_tokens), sa.func.sum(UsageLedger.cost_usd_micros),
            )
            .where(UsageLedger.workspace_id == self.scope.workspace_id,
                   UsageLedger.created_at >= since)
            .group_by(day, UsageLedger.model)
            .order_by(day, UsageLedger.model)
        )
        if until is not None:
            stmt = stmt.where(UsageLedger.created_at < until)
        if user_id is not None:
            stmt = stmt.where(UsageLedger.user_id == user_id)
        rows = (await self.session.execute(stmt)).all()
        return [UsageSummary(r[0], r[1], *(int(v) for v in r[2:])) for r in rows]


# -- conversation events ----------------------------------------------------------------------
class ConversationEventRepository(ScopedRepository[ConversationEvent]):
    model = ConversationEvent
    sortable = frozenset({"created_at", "seq"})

    async def append(
        self, conversation_id: uuid.UUID, type: str, payload: JSON | None = None
    ) -> ConversationEvent:
        return (await self.append_many(conversation_id, [(type, payload or {})]))[0]

    async def append_many(
        self, conversation_id: uuid.UUID, events: Sequence[tuple[str, JSON]]
    ) -> list[ConversationEvent]:
        """Add events with consecutive `seq`s after the conversation's last one.

        A transaction-scoped advisory lock per conversation serializes writers, so the stream
        stays gapless and ordered without locking the conversation row that messages update.
        """
        await self._lock_stream(conversation_id)
        first = await self.last_seq(conversation_id) + 1
        rows = [
            ConversationEvent(workspace_id=self.scope.workspace_id,
                              conversation_id=conversation_id, seq=first + offset,
                              type=kind, payload=payload)
            for offset, (kind, payload) in enumerate(events)
        ]
        self.session.add_all(rows)
        await self._flush({"conversation_id": conversation_id})
        return rows

    async def _lock_stream(self, conversation_id: uuid.UUID) -> None:
        key = f"conversation_events:{self.scope.workspace_id}:{conversation_id}"
        await self.session.execute(
            sa.select(sa.func.pg_advisory_xact_lock(sa.func.hashtextextended(key, 0)))
        )

    async def last_seq(self, conversation_id: uuid.UUID) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.max(ConversationEvent.seq), 0)).where(
            ConversationEvent.workspace_id == self.scope.workspace_id,
            ConversationEvent.conversation_id == conversation_id,
        )
        return int(await self.session.scalar(stmt) or 0)

    async def after(
        self, conversation_id: uuid.UUID, seq: int = 0, *, limit: int = 500
    ) -> list[ConversationEvent]:
        """Events a reconnecting client missed: `seq` greater than the last it saw, in order."""
        return await self._all(
            ConversationEvent.conversation_id == conversation_id, ConversationEvent.seq > seq,
            order_by=[ConversationEvent.seq], limit=limit,
        )


# -- ingress de-duplication -------------------------------------------------------------------
class IngressEventRepository(ScopedRepository[IngressEvent]):
    model = IngressEvent

    async def claim(
        self, provider: str, event_id: str, *, payload_hash: str | None = None,
        stale_after: timedelta | None = None,
    ) -> bool:
        """True when this delivery should be processed: the first time it is seen, or a retry
        of one whose processing failed (or, with `stale_after`, never finished). False for a
        duplicate. Concurrent deliveries of one event: exactly one gets True."""
        values = {"workspace_id": self.scope.workspace_id, "id": uuid.uuid4(),
                  "provider": provider, "event_id": event_id, "payload_hash": payload_hash}
        insert = (
            pg_insert(IngressEvent).values(values)
            .on_conflict_do_nothing(index_elements=["workspace_id", "provider", "event_id"])
            .returning(IngressEvent.id)
        )
        if (await execute_translated(self, insert, values)).first() is not None:
            return True
        return await self._reclaim(provider, event_id, stale_after)

    async def _reclaim(self, provider: str, event_id: str, stale_after: timedelta | None) -> bool:
        retryable: sa.ColumnElement[bool] = IngressEvent.status == IngressStatus.FAILED
        if stale_after is not None:
            stuck = sa.and_(IngressEvent.status == IngressStatus.RECEIVED,
                            IngressEvent.updated_at < utcnow() - stale_after)
            retryable = sa.or_(retryable, stuck)
        stmt = (
            sa.update(IngressEvent)
            .where(IngressEvent.workspace_id == self.scope.workspace_id,
                   IngressEvent.provider == provider, IngressEvent.event_id == event_id,
                   retryable)
            .values(status=IngressStatus.RECEIVED, attempts=IngressEvent.attempts + 1, error=None)
            .returning(IngressEvent.id)
        )
        return (await execute_translated(self, stmt)).first() is not None

    async def find_event(self, provider: str, event_id: str) -> IngressEvent | None:
        return await self._first(IngressEvent.provider == provider,
                                 IngressEvent.event_id == event_id)

    async def mark_processed(self, provider: str, event_id: str) -> IngressEvent:
        return await self._finish(provider, event_id, status=IngressStatus.PROCESSED,
                                  processed_at=utcnow(), error=None)

    async def mark_failed(self, provider: str, event_id: str, error: str) -> IngressEvent:
        return await self._finish(provider, event_id, status=IngressStatus.FAILED, error=error)

    async def _finish(self, provider: str, event_id: str, **values: Any) -> IngressEvent:
        row = await self.find_event(provider, event_id)
        if row is None:
            raise InvalidArgument(f"{provider} event {event_id} was never claimed")
        return await self.update(row.id, **values)


# -- autonomy ---------------------------------------------------------------------------------
def wilson_lower_bound(successes: int, failures: int, z: float = 1.96) -> float:
    """Lower bound of the Wilson score interval: a rate that needs evidence to be high
    (5 approvals of 5 give 0.57, 20 of 20 give 0.84, 19 of 20 give 0.76)."""
    n = successes + failures
    if n == 0:
        return 0.0
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, min(1.0, (centre - margin) / (1 + z * z / n)))


def is_consistent(row: UserAutonomyPreference, *, min_approvals: int = MIN_APPROVALS,
                  min_confidence: float = MIN_CONFIDENCE, now: datetime | None = None) -> bool:
    """Enough approvals, a high enough confidence, and no rejection in the last
    `REJECTION_MEMORY` (nor since the last approval, however long ago)."""
    rejected_last = row.last_rejected_at is not None and (
        row.last_approved_at is None or row.last_rejected_at >= row.last_approved_at
    )
    recent_rejection = row.last_rejected_at is not None and (
        row.last_rejected_at > (now or utcnow()) - REJECTION_MEMORY
    )
    return (row.approvals >= min_approvals and row.confidence >= min_confidence
            and not rejected_last and not recent_rejection)


class AutonomyRepository(ScopedRepository[UserAutonomyPreference]):
    model = UserAutonomyPreference

    async def record_approval(self, user_id: uuid.UUID, tool_name: str) -> UserAutonomyPreference:
        return await self._record(user_id, tool_name, approved=True)

    async def record_rejection(
        self, user_id: uuid.UUID, tool_name: str
    ) -> UserAutonomyPreference:
        """A rejection also switches auto-execution off: the user wants to be asked again."""
        return await self._record(user_id, tool_name, approved=False)

    async def _record(
        self, user_id: uuid.UUID, tool_name: str, *, approved: bool
    ) -> UserAutonomyPreference:
        now = utcnow()
        counter, stamp = ("approvals", "last_approved_at") if approved else (
            "rejections", "last_rejected_at")
        values = {"user_id": user_id, "tool_name": tool_name, counter: 1, stamp: now}
        insert = pg_insert(UserAutonomyPreference).values(
            workspace_id=self.scope.workspace_id, id=uuid.uuid4(), **values
        )
        changes: dict[str, Any] = {
            counter: getattr(UserAutonomyPreference, counter) + 1, stamp: now,
            "updated_at": sa.func.now(),
        }
        if not approved:
            changes["auto_execute_enabled"] = False
        stmt = insert.on_conflict_do_update(
            index_elements=["workspace_id", "user_id", "tool_name"], set_=changes
        ).returning(UserAutonomyPreference)
        row: UserAutonomyPreference = (
            await execute_translated(self, stmt, values)
        ).scalars().one()
        row.confidence = wilson_lower_bound(row.approvals, row.rejections)
        await self._flush({})
        return row

    async def find_for(self, user_id: uuid.UUID, tool_name: str) -> UserAutonomyPreference | None:
        return await self._first(UserAutonomyPreference.user_id == user_id,
                                 UserAutonomyPreference.tool_name == tool_name)

    async def eligible(self, user_id: uuid.UUID, tool_name: str) -> bool:
        """Whether the user's record for this tool is consistent enough to offer auto-execution
        (the risk policy decides separately whether the tool may ever run unasked)."""
        row = await self.find_for(user_id, tool_name)
        return row is not None and is_consistent(row)

    async def may_auto_execute(self, user_id: uuid.UUID, tool_name: str) -> bool:
        """The user switched auto-execution on and the record is still consistent."""
        row = await self.find_for(user_id, tool_name)
        return row is not None and row.auto_execute_enabled and is_consistent(row)

    async def enable_auto_execute(
        self, user_id: uuid.UUID, tool_name: str
    ) -> UserAutonomyPreference:
        row = await self.find_for(user_id, tool_name)
        if row is None or not is_consistent(row):
            raise Conflict(f"{tool_name} has not been approved consistently enough to run unasked")
        return await self.update(row.id, auto_execute_enabled=True)

    async def disable_auto_execute(self, user_id: uuid.UUID, tool_name: str) -> None:
        row = await self.find_for(user_id, tool_name)
        if row is not None and row.auto_execute_enabled:
            await self.update(row.id, auto_execute_enabled=False)

    async def for_user(self, user_id: uuid.UUID) -> list[UserAutonomyPreference]:
        return await self._all(UserAutonomyPreference.user_id == user_id,
                               order_by=[UserAutonomyPreference.tool_name])


# -- memory facts -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FactHit:
    fact: MemoryFact
    similarity: float


class MemoryFactRepository(ScopedRepository[MemoryFact]):
    model = MemoryFact

    async def remember(
        self, content: str, *, user_id: uuid.UUID | None = None, source: str | None = None,
        embedding: Sequence[float] | None = None, embedding_model: str | None = None,
        meta: JSON | None = None,
    ) -> MemoryFact:
        """Store a fact about `user_id`, or about the workspace when `user_id` is None."""
        if not content.strip():
            raise InvalidArgument("a memory fact cannot be empty")
        return await self.create(
            content=content.strip(), user_id=user_id, source=source, meta=meta or {},
            **_embedding_fields(embedding, embedding_model),
        )

    async def set_embedding(
        self, fact_id: uuid.UUID, embedding: Sequence[float], embedding_model: str
    ) -> MemoryFact:
        return await self.update(fact_id, **_embedding_fields(embedding, embedding_model))

    async def for_user(
        self, user_id: uuid.UUID | None, *, include_workspace: bool = True, limit: int = 100
    ) -> list[MemoryFact]:
        """Newest first: the user's facts, plus the workspace-wide ones unless told not to."""
        return await self._all(self._visible_to(user_id, include_workspace),
                               order_by=[MemoryFact.created_at.desc(), MemoryFact.id],
                               limit=limit)

    @staticmethod
    def _visible_to(user_id: uuid.UUID | None, include_workspace: bool) -> sa.ColumnElement[bool]:
        if user_id is None:
            return MemoryFact.user_id.is_(None)
        mine = MemoryFact.user_id == user_id
        return sa.or_(mine, MemoryFact.user_id.is_(None)) if include_workspace else mine

    async def without_embedding(self, *, limit: int = 100) -> list[MemoryFact]:
        return await self._all(MemoryFact.embedding.is_(None),
                               order_by=[MemoryFact.created_at], limit=limit)

    async def search(
        self, embedding: Sequence[float], *, embedding_model: str,
        user_id: uuid.UUID | None = None, include_workspace: bool = True, k: int = 5,
    ) -> list[FactHit]:
        """The `k` facts nearest to `embedding` (cosine), among those embedded by the same
        model and visible to `user_id`."""
        distance, same_space = cosine_distance(MemoryFact, embedding, embedding_model)
        await enable_iterative_scan(self.session)
        stmt = (
            self.select().add_columns(distance)
            .where(same_space, self._visible_to(user_id, include_workspace))
            .order_by(distance).limit(k)
        )
        rows = (await self.session.execute(stmt)).all()
        hits = [FactHit(fact, 1.0 - float(dist)) for fact, dist in rows]
        return sorted(hits, key=lambda h: -h.similarity)


def _embedding_fields(
    embedding: Sequence[float] | None, embedding_model: str | None
) -> Mapping[str, Any]:
    if embedding is None:
        return {"embedding": None, "embedding_dim": None, "embedding_model": None}
    if not embedding or embedding_model is None:
        raise InvalidArgument("an embedding needs values and the name of its model")
    return {"embedding": list(embedding), "embedding_dim": len(embedding),
            "embedding_model": embedding_model}



# -- outbox -----------------------------------------------------------------------------------
class OutboundMessageRepository(ScopedRepository[OutboundMessage]):
    model = OutboundMessage

    async def enqueue(
        self, channel: OutboundChannel, recipient: str, body: str, *,
        idempotency_key: str | None = None, **fields: Any,
    ) -> OutboundMessage:
        """Queue a message; the same idempotency key returns the first row, never a second."""
        if idempotency_key is not None:
            existing = await self._first(OutboundMessage.idempotency_key == idempotency_key)
            if existing is not None:
                return existing
        return await self.create(channel=channel, recipient=recipient, body=body,
                                 idempotency_key=idempotency_key, **fields)

    async def for_record(self, related_type: str, related_id: uuid.UUID) -> list[OutboundMessage]:
        return await self._all(OutboundMessage.related_type == related_type,
                               OutboundMessage.related_id == related_id,
                               order_by=[OutboundMessage.created_at, OutboundMessage.id])

    async def queued(self, *, limit: int = 100) -> list[OutboundMessage]:
        return await self._all(OutboundMessage.status == OutboundStatus.QUEUED,
                               order_by=[OutboundMessage.created_at], limit=limit)

    async def mark_sent(
        self, message_id: uuid.UUID, provider_message_id: str | None = None
    ) -> OutboundMessage:
        return await self.update(message_id, status=OutboundStatus.SENT, sent_at=utcnow(),
                                 provider_message_id=provider_message_id, error=None)

    async def mark_failed(self, message_id: uuid.UUID, error: str) -> OutboundMessage:
        return await self.update(message_id, status=OutboundStatus.FAILED, error=error)


# -- HTTP API state (see store.access_keys, store.ratelimits, store.idempotency) -----------------
class AccessKeyRepository(ScopedRepository[AccessKey]):
    model = AccessKey


class RateLimitBucketRepository(ScopedRepository[RateLimitBucket]):
    model = RateLimitBucket


class HttpIdempotencyRepository(ScopedRepository[HttpIdempotency]):
    model = HttpIdempotency
