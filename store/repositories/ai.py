"""AI / Neptune assistant repositories: conversations, messages, preferences, action history,
insights, message feedback and workspace intelligence.

Two writes here must hold under concurrency. Appending messages locks the conversation row
(`SELECT ... FOR UPDATE`) before computing the next `seq`, so two writers to one conversation
serialize and the unique `(workspace_id, conversation_id, seq)` is only a backstop. Insight
upserts are one `INSERT ... ON CONFLICT` statement whose status rule lives in SQL, so a sweep
racing a user's "dismiss" cannot resurrect the insight.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Result
from sqlalchemy.orm.attributes import set_committed_value

from store.errors import InvalidArgument, NotFound
from store.models.ai import (
    ActionStatus,
    AiConversation,
    AiMessage,
    AiMessageFeedback,
    AiUserPreferences,
    AssistantPreferences,
    Channel,
    InsightStatus,
    InsightType,
    MessageRole,
    NeptuneActionHistory,
    ProactiveInsight,
    Rating,
    Shortcut,
    WorkspaceIntelligence,
)
from store.models.base import JSON
from store.pagination import Page
from store.repositories.base import M, Repository, utcnow

RECENT_SEARCHES_KEPT = 20


async def execute_translated(
    repo: Repository[Any], stmt: sa.Executable, values: Mapping[str, Any] | None = None
) -> Result[Any]:
    """Run a hand-built statement (an upsert, a bulk update) with the repository's error mapping.

    The statement must already carry the workspace: `workspace_id` in an INSERT's values or a
    `workspace_id = scope` condition in an UPDATE/DELETE.
    """
    try:
        return await repo.session.execute(stmt, execution_options={"populate_existing": True})
    except sa_exc.DBAPIError as error:
        raise repo._translate(error, values or {}) from error


def content_hash(data: Any) -> str:
    """sha256 of canonical JSON: equal data, equal hash, whatever the key order."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class ScopedRepository(Repository[M]):
    """Repository plus the single-row lookup the domain queries here keep needing."""

    async def _first(
        self, *where: sa.ColumnElement[bool], order_by: Sequence[Any] = ()
    ) -> M | None:
        return await self.session.scalar(self.select().where(*where).order_by(*order_by).limit(1))


# -- conversations and messages ---------------------------------------------------------------
class ConversationRepository(ScopedRepository[AiConversation]):
    model = AiConversation
    sortable = frozenset({"created_at", "updated_at", "last_message_at"})
    archive_values = {"is_archived": True}

    async def recent(
        self, *, user_id: uuid.UUID | None = None, archived: bool | None = False,
        channel: Channel | None = None, limit: int = 20, cursor: str | None = None,
    ) -> Page[AiConversation]:
        """Conversations by latest activity; `archived=None` lists archived and live ones."""
        where: list[sa.ColumnElement[bool]] = []
        if user_id is not None:
            where.append(AiConversation.user_id == user_id)
        if archived is not None:
            where.append(AiConversation.is_archived.is_(archived))
        if channel is not None:
            where.append(AiConversation.channel == channel)
        return await self._page(*where, limit=limit, cursor=cursor, sort="last_message_at")

    async def pinned(self, *, user_id: uuid.UUID | None = None) -> list[AiConversation]:
        where: list[sa.ColumnElement[bool]] = [
            AiConversation.is_pinned.is_(True), AiConversation.is_archived.is_(False)
        ]
        if user_id is not None:
            where.append(AiConversation.user_id == user_id)
        return await self._all(*where, order_by=[AiConversation.last_message_at.desc()])

    async def with_messages(
        self, conversation_id: uuid.UUID
    ) -> tuple[AiConversation, list[AiMessage]]:
        """The conversation and all its messages in `seq` order."""
        conversation = await self.get(conversation_id)
        messages = await MessageRepository(self.session, self.scope).in_order(conversation_id)
        return conversation, messages

    async def rename(self, conversation_id: uuid.UUID, title: str) -> AiConversation:
        if not title.strip():
            raise InvalidArgument("a conversation title cannot be empty")
        return await self.update(conversation_id, title=title.strip())

    async def pin(self, conversation_id: uuid.UUID, pinned: bool = True) -> AiConversation:
        return await self.update(conversation_id, is_pinned=pinned)

    async def unarchive(self, conversation_id: uuid.UUID) -> AiConversation:
        return await self.update(conversation_id, is_archived=False)

    async def by_external_key(self, external_key: str) -> AiConversation | None:
        return await self._first(AiConversation.external_key == external_key)

    async def open_for_key(
        self, external_key: str, *, channel: Channel, user_id: uuid.UUID | None = None,
        title: str | None = None, model: str | None = None, context: JSON | None = None,
    ) -> AiConversation:
        """The conversation for a channel's thread, created on first use.

        Two deliveries of the same new thread at once both get the same row: the insert does
        nothing on conflict, and the read after it sees whichever insert won.
        """
        values = {
            "workspace_id": self.scope.workspace_id, "id": uuid.uuid4(),
            "external_key": external_key, "channel": channel, "user_id": user_id,
            "title": title, "model": model, "context": context or {},
        }
        stmt = pg_insert(AiConversation).values(values).on_conflict_do_nothing(
            index_elements=["workspace_id", "external_key"]
        )
        await execute_translated(self, stmt, values)
        found = await self.by_external_key(external_key)
        if found is None:  # pragma: no cover - the insert or a committed rival created it
            raise NotFound(self.entity, external_key)
        return found

    async def lock(self, conversation_id: uuid.UUID) -> AiConversation:
        """The conversation row, locked until the transaction ends, with fresh values."""
        stmt = self.select().where(AiConversation.id == conversation_id).with_for_update()
        row = await self.session.scalar(stmt, execution_options={"populate_existing": True})
        if row is None:
            raise NotFound(self.entity, conversation_id)
        return row


class MessageRepository(ScopedRepository[AiMessage]):
    model = AiMessage
    sortable = frozenset({"created_at", "updated_at", "seq"})

    async def append(
        self, conversation_id: uuid.UUID, role: MessageRole, content: str = "", **fields: Any
    ) -> AiMessage:
        """Add one message at the end of the conversation (see `append_many`)."""
        message = {"role": role, "content": content, **fields}
        return (await self.append_many(conversation_id, [message]))[0]

    async def append_many(
        self, conversation_id: uuid.UUID, messages: Sequence[Mapping[str, Any]]
    ) -> list[AiMessage]:
        """Add messages in order with consecutive `seq`s, and bump the conversation's counters.

        The conversation row is locked first, so concurrent appends wait for each other
        instead of computing the same next `seq`. `created_at` may be given (an import, the
        demo); the conversation's `last_message_at` follows it.
        """
        for fields in messages:
            if {"seq", "conversation_id"} & fields.keys():
                raise InvalidArgument("seq and conversation_id are set by append")
            self._check_fields(fields, creating=True)
        conversation = await ConversationRepository(self.session, self.scope).lock(conversation_id)
        first = await self.last_seq(conversation_id) + 1
        values: list[dict[str, Any]] = [
            {"id": uuid.uuid4(), **fields, "workspace_id": self.scope.workspace_id,
             "conversation_id": conversation_id, "seq": first + offset}
            for offset, fields in enumerate(messages)
        ]
        stmt = sa.insert(AiMessage).returning(AiMessage, sort_by_parameter_order=True)
        try:
            result = await self.session.execute(stmt, values)
        except sa_exc.DBAPIError as error:
            raise self._translate(error, {"conversation_id": conversation_id}) from error
        rows = list(result.scalars().all())
        counted = sum(1 for r in rows if r.role != MessageRole.SUMMARY)
        latest = max((v["created_at"] for v in values if v.get("created_at") is not None),
                     default=utcnow())
        await self.session.execute(
            sa.update(AiConversation)
            .where(AiConversation.workspace_id == self.scope.workspace_id,
                   AiConversation.id == conversation_id)
            .values(message_count=AiConversation.message_count + counted,
                    last_message_at=latest, updated_at=sa.func.now())
            .execution_options(synchronize_session=False)
        )
        set_committed_value(conversation, "message_count", conversation.message_count + counted)
        set_committed_value(conversation, "last_message_at", latest)
        return rows

    async def last_seq(self, conversation_id: uuid.UUID) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.max(AiMessage.seq), 0)).where(
            AiMessage.workspace_id == self.scope.workspace_id,
            AiMessage.conversation_id == conversation_id,
        )
        return int(await self.session.scalar(stmt) or 0)

    async def in_order(self, conversation_id: uuid.UUID) -> list[AiMessage]:
        return await self._all(
            AiMessage.conversation_id == conversation_id, order_by=[AiMessage.seq]
        )

    async def after(
        self, conversation_id: uuid.UUID, seq: int, *, limit: int = 200
    ) -> list[AiMessage]:
        """Messages with `seq` greater than `seq`, oldest first (a client catching up)."""
        return await self._all(
            AiMessage.conversation_id == conversation_id, AiMessage.seq > seq,
            order_by=[AiMessage.seq], limit=limit,
        )

    async def history(
        self, conversation_id: uuid.UUID, *, after_seq: int = 0, before_seq: int | None = None,
        limit: int = 200,
    ) -> list[AiMessage]:
        """Messages newest first, each with its stored `token_count`, for the context builder to
        walk until its budget is spent. `after_seq` skips what a summary already covers."""
        where = [AiMessage.conversation_id == conversation_id, AiMessage.seq > after_seq]
        if before_seq is not None:
            where.append(AiMessage.seq < before_seq)
        return await self._all(*where, order_by=[AiMessage.seq.desc()], limit=limit)

    async def latest_summary(self, conversation_id: uuid.UUID) -> AiMessage | None:
        return await self._first(
            AiMessage.conversation_id == conversation_id, AiMessage.role == MessageRole.SUMMARY,
            order_by=[AiMessage.summary_of_until_seq.desc(), AiMessage.seq.desc()],
        )

    async def finish(self, message_id: uuid.UUID, **values: Any) -> AiMessage:
        """Complete a streamed message: final content, status, tokens, timing. One statement:
        this runs at the end of every model step."""
        if {"seq", "conversation_id", "role"} & values.keys():
            raise InvalidArgument("a message's seq, conversation and role cannot change")
        self._check_fields(values)
        stmt = (
            sa.update(AiMessage)
            .where(AiMessage.workspace_id == self.scope.workspace_id, AiMessage.id == message_id)
            .values(**values, updated_at=sa.func.now())
            .returning(AiMessage)
            .execution_options(synchronize_session=False)
        )
        row: AiMessage | None = (await execute_translated(self, stmt, values)).scalars().first()
        if row is None:
            raise NotFound(self.entity, message_id)
        return row


# -- preferences ------------------------------------------------------------------------------
class PreferencesRepository(ScopedRepository[AiUserPreferences]):
    model = AiUserPreferences

    async def for_user(self, user_id: uuid.UUID) -> AiUserPreferences:
        """The user's row, created with default preferences on first use."""
        return await self._ensure(user_id, lock=False)

    async def _ensure(self, user_id: uuid.UUID, *, lock: bool = True) -> AiUserPreferences:
        """Insert the row if absent, then read it (locked, for a read-modify-write)."""
        values = {
            "workspace_id": self.scope.workspace_id, "id": uuid.uuid4(), "user_id": user_id,
            "preferences": AssistantPreferences().model_dump(),
        }
        insert = pg_insert(AiUserPreferences).values(values).on_conflict_do_nothing(
            index_elements=["workspace_id", "user_id"]
        )
        await execute_translated(self, insert, values)
        stmt = self.select().where(AiUserPreferences.user_id == user_id)
        if lock:
            stmt = stmt.with_for_update()
        row = await self.session.scalar(stmt, execution_options={"populate_existing": True})
        if row is None:  # pragma: no cover - inserted just above
            raise NotFound(self.entity, user_id)
        return row

    @staticmethod
    def settings(row: AiUserPreferences) -> AssistantPreferences:
        return AssistantPreferences.model_validate(row.preferences)

    async def update_preferences(self, user_id: uuid.UUID, **changes: Any) -> AiUserPreferences:
        """Change tone, verbosity, language or timezone; the result is validated as a whole."""
        row = await self._ensure(user_id)
        try:
            merged = AssistantPreferences.model_validate({**row.preferences, **changes})
        except ValidationError as exc:
            raise InvalidArgument(f"invalid preferences: {_first_error(exc)}") from exc
        return await self.update(row.id, preferences=merged.model_dump())

    async def set_shortcut(
        self, user_id: uuid.UUID, command: str, expansion: str
    ) -> AiUserPreferences:
        """Add a shortcut, replacing one with the same command."""
        try:
            shortcut = Shortcut(command=command, expansion=expansion)
        except ValidationError as exc:
            raise InvalidArgument(f"invalid shortcut: {_first_error(exc)}") from exc
        row = await self._ensure(user_id)
        kept = [s for s in row.shortcuts if s.get("command") != shortcut.command]
        return await self.update(row.id, shortcuts=[*kept, shortcut.model_dump()])

    async def remove_shortcut(self, user_id: uuid.UUID, command: str) -> AiUserPreferences:
        row = await self._ensure(user_id)
        kept = [s for s in row.shortcuts if s.get("command") != command]
        if len(kept) == len(row.shortcuts):
            raise NotFound("shortcut", command)
        return await self.update(row.id, shortcuts=kept)

    async def record_search(
        self, user_id: uuid.UUID, text: str, *, keep: int = RECENT_SEARCHES_KEPT
    ) -> AiUserPreferences:
        """Put `text` first in the recent searches (once), keeping the newest `keep`."""
        row = await self._ensure(user_id)
        text = text.strip()
        if not text:
            return row
        searches = [text, *(s for s in row.recent_searches if s != text)][:keep]
        return await self.update(row.id, recent_searches=searches)

    async def set_favorite_agents(
        self, user_id: uuid.UUID, agents: Iterable[str]
    ) -> AiUserPreferences:
        row = await self._ensure(user_id)
        return await self.update(row.id, favorite_agents=list(dict.fromkeys(agents)))

    async def learn(self, user_id: uuid.UUID, observations: JSON) -> AiUserPreferences:
        """Merge observations into `learning_data` (top-level keys replace)."""
        row = await self._ensure(user_id)
        return await self.update(row.id, learning_data={**row.learning_data, **observations})


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])


# -- action history ---------------------------------------------------------------------------
class ActionHistoryRepository(ScopedRepository[NeptuneActionHistory]):
    model = NeptuneActionHistory

    async def by_idempotency_key(self, key: str) -> NeptuneActionHistory | None:
        return await self._first(NeptuneActionHistory.idempotency_key == key)

    async def finish(
        self, action_id: uuid.UUID, status: ActionStatus, *, output: Any = None,
        error: str | None = None, duration_ms: int | None = None, **values: Any,
    ) -> NeptuneActionHistory:
        """Record how a call ended; `success` follows from the status."""
        return await self.update(
            action_id, status=status, success=status == ActionStatus.SUCCESS, output=output,
            error=error, duration_ms=duration_ms, **values,
        )

    async def for_tool(
        self, action_type: str, *, user_id: uuid.UUID | None = None, limit: int = 50,
        cursor: str | None = None,
    ) -> Page[NeptuneActionHistory]:
        where = [NeptuneActionHistory.action_type == action_type]
        if user_id is not None:
            where.append(NeptuneActionHistory.user_id == user_id)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def for_conversation(self, conversation_id: uuid.UUID) -> list[NeptuneActionHistory]:
        """The conversation's tool calls in the order they were made."""
        return await self._all(
            NeptuneActionHistory.conversation_id == conversation_id,
            order_by=[NeptuneActionHistory.created_at, NeptuneActionHistory.id],
        )

    async def failed(
        self, *, since: datetime | None = None, action_type: str | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page[NeptuneActionHistory]:
        where = [NeptuneActionHistory.status == ActionStatus.ERROR]
        if since is not None:
            where.append(NeptuneActionHistory.created_at >= since)
        if action_type is not None:
            where.append(NeptuneActionHistory.action_type == action_type)
        return await self._page(*where, limit=limit, cursor=cursor)


# -- insights ---------------------------------------------------------------------------------
_OPEN_INSIGHT = (InsightStatus.PENDING, InsightStatus.SEEN)
_INSIGHT_LIFECYCLE = frozenset({"status", "seen_at", "acted_at", "dismissed_at"})


class InsightRepository(ScopedRepository[ProactiveInsight]):
    model = ProactiveInsight
    sortable = frozenset({"created_at", "updated_at", "priority"})
    archive_values = {"status": InsightStatus.DISMISSED}

    async def upsert(
        self, fingerprint: str, *, detector: str, type: InsightType, title: str,
        data: JSON | None = None, data_hash: str | None = None, **fields: Any,
    ) -> ProactiveInsight:
        """Create the insight, or refresh the one with this fingerprint.

        A refresh keeps the status (seen stays seen, dismissed stays dismissed) unless the data
        changed (`data_hash` differs) or the insight had expired: then it is pending again.
        `data_hash` defaults to a hash of `data`.
        """
        self._check_fields(fields)
        if _INSIGHT_LIFECYCLE & fields.keys():
            raise InvalidArgument("an insight's status changes through seen/acted/dismiss/expire")
        data = data or {}
        values = {
            **fields, "fingerprint": fingerprint, "detector": detector, "type": type,
            "title": title, "data": data, "data_hash": data_hash or content_hash(data),
        }
        insert = pg_insert(ProactiveInsight).values(
            workspace_id=self.scope.workspace_id, id=uuid.uuid4(),
            status=InsightStatus.PENDING, **values,
        )
        revive = sa.or_(
            ProactiveInsight.data_hash.is_distinct_from(insert.excluded.data_hash),
            ProactiveInsight.status == InsightStatus.EXPIRED,
        )
        refreshed = {name: insert.excluded[name] for name in values if name != "fingerprint"}
        stmt = insert.on_conflict_do_update(
            index_elements=["workspace_id", "fingerprint"],
            set_={
                **refreshed,
                "status": sa.case((revive, InsightStatus.PENDING), else_=ProactiveInsight.status),
                "seen_at": sa.case((revive, sa.null()), else_=ProactiveInsight.seen_at),
                "acted_at": sa.case((revive, sa.null()), else_=ProactiveInsight.acted_at),
                "dismissed_at": sa.case((revive, sa.null()), else_=ProactiveInsight.dismissed_at),
                "updated_at": sa.func.now(),
            },
        ).returning(ProactiveInsight)
        result = await execute_translated(self, stmt, values)
        row: ProactiveInsight = result.scalars().one()
        return row

    def _live(self, now: datetime | None = None) -> sa.ColumnElement[bool]:
        moment = now or utcnow()
        return sa.or_(ProactiveInsight.expires_at.is_(None), ProactiveInsight.expires_at > moment)

    async def unseen(
        self, *, user_id: uuid.UUID | None = None, limit: int = 10
    ) -> list[ProactiveInsight]:
        """Pending, unexpired insights, most important first. With `user_id`: the user's own
        insights and the workspace-wide ones (user_id NULL)."""
        where = [ProactiveInsight.status == InsightStatus.PENDING, self._live()]
        if user_id is not None:
            where.append(
                sa.or_(ProactiveInsight.user_id.is_(None), ProactiveInsight.user_id == user_id)
            )
        return await self._all(*where, order_by=self._by_priority(), limit=limit)

    async def for_record(
        self, record_type: str, record_id: uuid.UUID, *, include_seen: bool = False,
        limit: int = 5,
    ) -> list[ProactiveInsight]:
        """Unexpired insights about one record (the page the user is on), most important first."""
        statuses = _OPEN_INSIGHT if include_seen else (InsightStatus.PENDING,)
        return await self._all(
            ProactiveInsight.record_type == record_type, ProactiveInsight.record_id == record_id,
            ProactiveInsight.status.in_(statuses), self._live(),
            order_by=self._by_priority(), limit=limit,
        )

    @staticmethod
    def _by_priority() -> list[Any]:
        return [ProactiveInsight.priority.desc(), ProactiveInsight.created_at.desc(),
                ProactiveInsight.id]

    async def mark_seen(self, insight_ids: Iterable[uuid.UUID]) -> int:
        """Pending insights among `insight_ids` become seen; returns how many changed."""
        ids = list(insight_ids)
        if not ids:
            return 0
        return await self._set_status(
            [ProactiveInsight.id.in_(ids), ProactiveInsight.status == InsightStatus.PENDING],
            status=InsightStatus.SEEN, seen_at=utcnow(),
        )

    async def mark_acted(self, insight_id: uuid.UUID) -> ProactiveInsight:
        return await self.update(insight_id, status=InsightStatus.ACTED, acted_at=utcnow())

    async def dismiss(self, insight_id: uuid.UUID) -> ProactiveInsight:
        return await self.update(
            insight_id, status=InsightStatus.DISMISSED, dismissed_at=utcnow()
        )

    async def expire(self, *, now: datetime | None = None) -> int:
        """Open insights whose `expires_at` has passed become expired; returns how many."""
        moment = now or utcnow()
        return await self._set_status(
            [ProactiveInsight.status.in_(_OPEN_INSIGHT), ProactiveInsight.expires_at <= moment],
            status=InsightStatus.EXPIRED,
        )

    async def retire(self, detector: str, keep: Iterable[str]) -> int:
        """Open insights of `detector` whose fingerprint it no longer reports (the situation is
        over: the deal moved on, the invoice was paid) become expired; returns how many."""
        return await self._set_status(
            [ProactiveInsight.detector == detector,
             ProactiveInsight.status.in_(_OPEN_INSIGHT),
             ProactiveInsight.fingerprint.not_in(list(keep))],
            status=InsightStatus.EXPIRED,
        )

    async def _set_status(self, where: list[sa.ColumnElement[bool]], **values: Any) -> int:
        stmt = (
            sa.update(ProactiveInsight)
            .where(ProactiveInsight.workspace_id == self.scope.workspace_id, *where)
            .values(**values)
            .returning(ProactiveInsight.id)
        )
        result = await execute_translated(self, stmt)
        return len(result.all())


# -- feedback ---------------------------------------------------------------------------------
class FeedbackRepository(ScopedRepository[AiMessageFeedback]):
    model = AiMessageFeedback

    async def rate(
        self, message_id: uuid.UUID, rating: Rating, *, user_id: uuid.UUID | None,
        comment: str | None = None,
    ) -> AiMessageFeedback:
        """Record a user's rating of a message; rating again replaces the earlier one."""
        values = {"message_id": message_id, "user_id": user_id, "rating": rating,
                  "comment": comment}
        insert = pg_insert(AiMessageFeedback).values(
            workspace_id=self.scope.workspace_id, id=uuid.uuid4(), **values
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["workspace_id", "message_id", "user_id"],
            set_={"rating": insert.excluded.rating, "comment": insert.excluded.comment,
                  "updated_at": sa.func.now()},
        ).returning(AiMessageFeedback)
        result = await execute_translated(self, stmt, values)
        row: AiMessageFeedback = result.scalars().one()
        return row

    async def for_message(self, message_id: uuid.UUID) -> list[AiMessageFeedback]:
        return await self._all(
            AiMessageFeedback.message_id == message_id, order_by=[AiMessageFeedback.created_at]
        )

    async def counts(self, *, since: datetime | None = None) -> dict[Rating, int]:
        """Ratings per value, for a quality dashboard."""
        stmt = (
            sa.select(AiMessageFeedback.rating, sa.func.count())
            .where(AiMessageFeedback.workspace_id == self.scope.workspace_id)
            .group_by(AiMessageFeedback.rating)
        )
        if since is not None:
            stmt = stmt.where(AiMessageFeedback.created_at >= since)
        found = {Rating(r): int(n) for r, n in (await self.session.execute(stmt)).all()}
        return {rating: found.get(rating, 0) for rating in Rating}

    async def negative(
        self, *, limit: int = 50, cursor: str | None = None
    ) -> Page[AiMessageFeedback]:
        return await self._page(AiMessageFeedback.rating == Rating.DOWN, limit=limit, cursor=cursor)


# -- workspace intelligence -------------------------------------------------------------------
class WorkspaceIntelligenceRepository(ScopedRepository[WorkspaceIntelligence]):
    model = WorkspaceIntelligence

    async def current(self) -> WorkspaceIntelligence | None:
        return await self._first()

    async def put(
        self, *, updated_by: uuid.UUID | None, company_profile: JSON | None = None,
        products: list[Any] | None = None, brand_voice: str | None = None,
    ) -> WorkspaceIntelligence:
        """Create or update the workspace's profile; fields left as None keep their value."""
        given = {
            name: value for name, value in (
                ("company_profile", company_profile), ("products", products),
                ("brand_voice", brand_voice),
            ) if value is not None
        }
        insert = pg_insert(WorkspaceIntelligence).values(
            workspace_id=self.scope.workspace_id, id=uuid.uuid4(), updated_by=updated_by, **given
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["workspace_id"],
            set_={**{name: insert.excluded[name] for name in given},
                  "updated_by": insert.excluded.updated_by, "updated_at": sa.func.now()},
        ).returning(WorkspaceIntelligence)
        result = await execute_translated(self, stmt, given)
        row: WorkspaceIntelligence = result.scalars().one()
        return row

