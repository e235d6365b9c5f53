"""Agent repositories: agents, executions, schedules, logs; and the global agent catalogue.

The catalogue (templates, packs) is shared by all workspaces, so it is not a `Repository`: it
has no scope, and a workspace reads it but never owns a row of it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import InvalidArgument, NotFound
from store.models.agents import (
    Agent,
    AgentExecution,
    AgentLog,
    AgentPack,
    AgentSchedule,
    AgentStatus,
    AgentTemplate,
    AgentType,
    ExecutionStatus,
)
from store.models.base import GlobalTable
from store.pagination import Page
from store.repositories.base import Repository, entity_name, utcnow
from store.repositories.crm import ilike_any

G = TypeVar("G", bound=GlobalTable)


class Catalogue(Generic[G]):
    """Read access to a global, slug-keyed catalogue table, and insert-if-absent seeding."""

    model: ClassVar[type[GlobalTable]]

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def table(self) -> sa.Table:
        table: sa.Table = self.model.__table__  # type: ignore[assignment]
        return table

    def select(self) -> sa.Select[G]:
        return sa.select(self.model)

    async def get(self, row_id: uuid.UUID) -> G:
        row = await self.session.scalar(self.select().where(self.model.id == row_id))
        if row is None:
            raise NotFound(entity_name(self.table), row_id)
        return row

    async def by_slug(self, slug: str) -> G | None:
        return await self.session.scalar(self.select().where(self.table.c.slug == slug))

    async def ensure(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, uuid.UUID]:
        """Insert the rows whose slug is not there yet; return {slug: id} for all of them.

        Catalogue rows are shared, so a second workspace's seed must neither duplicate nor
        overwrite what the first one (or the platform team) created.
        """
        if not rows:
            return {}
        table = self.table
        await self.session.execute(
            pg_insert(table).values([dict(r) for r in rows]).on_conflict_do_nothing(
                index_elements=["slug"]
            )
        )
        slugs = [r["slug"] for r in rows]
        found = await self.session.execute(
            sa.select(table.c.slug, table.c.id).where(table.c.slug.in_(slugs))
        )
        return {slug: row_id for slug, row_id in found.all()}


class AgentTemplateCatalogue(Catalogue[AgentTemplate]):
    model = AgentTemplate

    async def published(
        self, text: str = "", *, category: str | None = None, type: AgentType | None = None,
        featured_only: bool = False, limit: int = 20,
    ) -> list[AgentTemplate]:
        """Published templates holding every word of `text` in their name, slug or
        descriptions, most trending first."""
        stmt = self.select().where(AgentTemplate.is_published.is_(True), *(
            ilike_any(word, AgentTemplate.name, AgentTemplate.slug,
                      AgentTemplate.short_description, AgentTemplate.description)
            for word in text.split()))
        if category is not None:
            stmt = stmt.where(AgentTemplate.category == category)
        if type is not None:
            stmt = stmt.where(AgentTemplate.type == type)
        if featured_only:
            stmt = stmt.where(AgentTemplate.is_featured.is_(True))
        stmt = stmt.order_by(AgentTemplate.trending_score.desc(), AgentTemplate.name,
                             AgentTemplate.slug).limit(limit)
        return list(await self.session.scalars(stmt))


class AgentPackCatalogue(Catalogue[AgentPack]):
    model = AgentPack

    async def published(self, *, category: str | None = None, limit: int = 20) -> list[AgentPack]:
        stmt = self.select().where(AgentPack.is_published.is_(True))
        if category is not None:
            stmt = stmt.where(AgentPack.category == category)
        stmt = stmt.order_by(AgentPack.install_count.desc(), AgentPack.name).limit(limit)
        return list(await self.session.scalars(stmt))


@dataclass(frozen=True)
class ExecutionStats:
    total: int
    completed: int
    failed: int
    cancelled: int
    in_progress: int
    avg_duration_ms: int | None
    tokens_used: int
    cost_cents: int

    @property
    def success_rate(self) -> float | None:
        """Completed share of finished runs (cancelled runs excluded), or None with no runs."""
        finished = self.completed + self.failed
        return round(100 * self.completed / finished, 1) if finished else None


@dataclass(frozen=True)
class FailingAgent:
    agent: Agent
    failures: int
    last_failed_at: datetime
    last_error: str | None


def _error_message(error: Mapping[str, Any] | None) -> str | None:
    if not error:
        return None
    return str(error.get("message") or error)


class AgentRepository(Repository[Agent]):
    model = Agent
    sortable = frozenset({"created_at", "updated_at", "name", "execution_count"})
    archive_values = {"status": AgentStatus.ARCHIVED}

    async def search(
        self, text: str = "", *, type: AgentType | None = None, status: AgentStatus | None = None,
        include_archived: bool = False, limit: int = 20, cursor: str | None = None,
    ) -> Page[Agent]:
        """Agents whose name or description contains `text`, by name."""
        where: list[sa.ColumnElement[bool]] = []
        if text.strip():
            where.append(ilike_any(text.strip(), Agent.name, Agent.description))
        if type is not None:
            where.append(Agent.type == type)
        if status is not None:
            where.append(Agent.status == status)
        elif not include_archived:
            where.append(Agent.status != AgentStatus.ARCHIVED)
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)

    async def by_name(self, name: str) -> Agent | None:
        rows = await self._all(sa.func.lower(Agent.name) == name.strip().lower(), limit=1)
        return rows[0] if rows else None

    def _executions(self, *where: sa.ColumnElement[bool]) -> list[sa.ColumnElement[bool]]:
        return [AgentExecution.workspace_id == self.scope.workspace_id, *where]

    async def execution_stats(
        self, agent_id: uuid.UUID | None = None, *, since: datetime | None = None
    ) -> ExecutionStats:
        """Run counts, average duration, tokens and cost, for one agent or the workspace."""
        where = self._executions()
        if agent_id is not None:
            await self.get(agent_id)
            where.append(AgentExecution.agent_id == agent_id)
        if since is not None:
            where.append(AgentExecution.created_at >= since)
        status = AgentExecution.status
        row = (await self.session.execute(sa.select(
            sa.func.count(),
            sa.func.count().filter(status == ExecutionStatus.COMPLETED),
            sa.func.count().filter(status == ExecutionStatus.FAILED),
            sa.func.count().filter(status == ExecutionStatus.CANCELLED),
            sa.func.count().filter(status.in_([ExecutionStatus.PENDING, ExecutionStatus.RUNNING])),
            sa.func.avg(AgentExecution.duration_ms),
            sa.func.coalesce(sa.func.sum(AgentExecution.tokens_used), 0),
            sa.func.coalesce(sa.func.sum(AgentExecution.cost_cents), 0),
        ).where(*where))).one()
        total, completed, failed, cancelled, in_progress, avg, tokens, cost = row
        return ExecutionStats(
            total=int(total), completed=int(completed), failed=int(failed),
            cancelled=int(cancelled), in_progress=int(in_progress),
            avg_duration_ms=None if avg is None else round(avg),
            tokens_used=int(tokens), cost_cents=int(cost),
        )

    async def failing(
        self, *, within: timedelta = timedelta(hours=24), min_failures: int = 1
    ) -> list[FailingAgent]:
        """Agents with at least `min_failures` failed runs in the last `within`, worst first."""
        where = self._executions(
            AgentExecution.status == ExecutionStatus.FAILED,
            AgentExecution.created_at >= utcnow() - within,
        )
        last = sa.func.max(AgentExecution.created_at)
        counts = (await self.session.execute(
            sa.select(AgentExecution.agent_id, sa.func.count(), last)
            .where(*where).group_by(AgentExecution.agent_id)
            .having(sa.func.count() >= min_failures)
        )).all()
        if not counts:
            return []
        latest = await self.session.execute(
            sa.select(AgentExecution.agent_id, AgentExecution.error)
            .where(*where, AgentExecution.agent_id.in_([c[0] for c in counts]))
            .ext(distinct_on(AgentExecution.agent_id))
            .order_by(AgentExecution.agent_id, AgentExecution.created_at.desc())
        )
        errors = {agent_id: _error_message(error) for agent_id, error in latest.all()}
        agents = {a.id: a for a in await self.get_many(c[0] for c in counts)}
        found = [FailingAgent(agents[a], int(n), last, errors.get(a)) for a, n, last in counts]
        return sorted(found, key=lambda f: (-f.failures, -f.last_failed_at.timestamp()))


class AgentExecutionRepository(Repository[AgentExecution]):
    model = AgentExecution

    async def for_agent(
        self, agent_id: uuid.UUID, *, status: ExecutionStatus | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[AgentExecution]:
        where = [AgentExecution.agent_id == agent_id]
        if status is not None:
            where.append(AgentExecution.status == status)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def start(
        self, agent_id: uuid.UUID, *, input: Mapping[str, Any] | None = None,
        triggered_by: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    ) -> AgentExecution:
        """A running execution, started now."""
        return await self.create(
            agent_id=agent_id, input=dict(input or {}), triggered_by=triggered_by,
            schedule_id=schedule_id, status=ExecutionStatus.RUNNING, started_at=utcnow(),
        )

    async def queue(
        self, agent_id: uuid.UUID, *, input: Mapping[str, Any] | None = None,
        triggered_by: uuid.UUID | None = None, schedule_id: uuid.UUID | None = None,
    ) -> AgentExecution:
        """A pending execution: the worker lists it as due work (`agent_run`) and claims it."""
        return await self.create(
            agent_id=agent_id, input=dict(input or {}), triggered_by=triggered_by,
            schedule_id=schedule_id, status=ExecutionStatus.PENDING,
        )

    async def claim(self, execution_id: uuid.UUID) -> AgentExecution | None:
        """Move a pending execution to running, once: of two workers claiming the same row,
        one gets it back and the other gets None (as does anyone claiming a row that is no
        longer pending)."""
        row: AgentExecution | None = await self.session.scalar(
            sa.update(AgentExecution)
            .where(AgentExecution.workspace_id == self.scope.workspace_id,
                   AgentExecution.id == execution_id,
                   AgentExecution.status == ExecutionStatus.PENDING)
            .values(status=ExecutionStatus.RUNNING, started_at=sa.func.now(),
                    updated_at=sa.func.now())
            .returning(AgentExecution),
            execution_options={"populate_existing": True, "synchronize_session": False},
        )
        return row

    async def finish(
        self, execution_id: uuid.UUID, status: ExecutionStatus, *,
        output: Mapping[str, Any] | None = None, error: Mapping[str, Any] | None = None,
        tokens_used: int | None = None, cost_cents: int = 0,
    ) -> AgentExecution:
        """Close a run and count it on its agent (`execution_count`, `last_executed_at`)."""
        if not ExecutionStatus(status).is_final:
            raise InvalidArgument(f"{status} is not a final execution status")
        run = await self.get(execution_id)
        if run.status.is_final:
            raise InvalidArgument(f"execution {execution_id} already ended ({run.status})")
        now = utcnow()
        started = run.started_at or now
        await self.session.execute(
            sa.update(Agent)
            .where(Agent.workspace_id == self.scope.workspace_id, Agent.id == run.agent_id)
            .values(execution_count=Agent.execution_count + 1, last_executed_at=now)
        )
        return await self.update(
            execution_id, status=status, output=None if output is None else dict(output),
            error=None if error is None else dict(error), tokens_used=tokens_used,
            cost_cents=cost_cents, completed_at=now,
            duration_ms=int((now - started).total_seconds() * 1000),
        )


class AgentScheduleRepository(Repository[AgentSchedule]):
    model = AgentSchedule
    archive_values = {"enabled": False}

    async def due(self, now: datetime | None = None, *, limit: int = 100) -> list[AgentSchedule]:
        """Enabled schedules whose next run is at or before `now`, oldest first."""
        return await self._all(
            AgentSchedule.enabled.is_(True),
            AgentSchedule.next_run_at <= (now or utcnow()),
            order_by=[AgentSchedule.next_run_at, AgentSchedule.id],
            limit=limit,
        )

    async def for_agent(self, agent_id: uuid.UUID) -> list[AgentSchedule]:
        return await self._all(
            AgentSchedule.agent_id == agent_id, order_by=[AgentSchedule.created_at]
        )

    async def claim_firing(
        self, schedule_id: uuid.UUID, *, seen_next_run_at: datetime, next_run_at: datetime | None,
        ran_at: datetime,
    ) -> AgentSchedule | None:
        """Advance a due schedule to its next firing with a compare-and-set on `next_run_at`:
        only the caller that saw the current value wins, so two workers fire a schedule once.
        None when the schedule moved on, was disabled, or is not this workspace's."""
        row: AgentSchedule | None = await self.session.scalar(
            sa.update(AgentSchedule)
            .where(AgentSchedule.workspace_id == self.scope.workspace_id,
                   AgentSchedule.id == schedule_id, AgentSchedule.enabled.is_(True),
                   AgentSchedule.next_run_at == seen_next_run_at)
            .values(next_run_at=next_run_at, last_run_at=ran_at, updated_at=sa.func.now())
            .returning(AgentSchedule),
            execution_options={"populate_existing": True, "synchronize_session": False},
        )
        return row

    async def mark_ran(
        self, schedule_id: uuid.UUID, *, status: ExecutionStatus, ran_at: datetime,
        next_run_at: datetime | None,
    ) -> AgentSchedule:
        """Record a firing and when the next one is due (None: not again)."""
        return await self.update(
            schedule_id, last_run_at=ran_at, last_run_status=status, next_run_at=next_run_at
        )


class AgentLogRepository(Repository[AgentLog]):
    model = AgentLog
    sortable = frozenset({"created_at", "logged_at"})

    async def recent(
        self, *, agent_id: uuid.UUID | None = None, success: bool | None = None,
        limit: int = 50, cursor: str | None = None,
    ) -> Page[AgentLog]:
        where: list[sa.ColumnElement[bool]] = []
        if agent_id is not None:
            where.append(AgentLog.agent_id == agent_id)
        if success is not None:
            where.append(AgentLog.success.is_(success))
        return await self._page(*where, limit=limit, cursor=cursor, sort="logged_at")

    async def for_execution(self, execution_id: uuid.UUID) -> list[AgentLog]:
        """The model calls of one run, in the order they were made."""
        return await self._all(AgentLog.execution_id == execution_id,
                               order_by=[AgentLog.logged_at, AgentLog.created_at, AgentLog.id])
