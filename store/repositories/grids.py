"""Grid repositories: grids with their graph, nodes, edges, executions and execution steps,
and the global grid template catalogue.

`GridGraph` is what the grid engine runs: one grid with all its nodes and edges, loaded in three
queries, plus the graph questions the engine asks (successors, a topological order).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.grids import (
    EdgeType,
    ExecutionStep,
    GalaxyGrid,
    GridEdge,
    GridExecution,
    GridNode,
    GridRunStatus,
    GridStatus,
    GridTemplate,
    NodeStatus,
    NodeType,
    StepStatus,
)
from store.pagination import Page
from store.repositories.agents import Catalogue
from store.repositories.base import Repository, utcnow
from store.repositories.crm import ilike_any

FINISHED = [GridRunStatus.COMPLETED, GridRunStatus.FAILED]
UNFINISHED = frozenset(s for s in GridRunStatus if not s.is_final)


def _millis(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return int((end - start).total_seconds() * 1000)


@dataclass(frozen=True)
class GridGraph:
    grid: GalaxyGrid
    nodes: list[GridNode]
    edges: list[GridEdge]

    def node(self, node_id: str) -> GridNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise NotFound("grid node", node_id)

    def outgoing(self, node_id: str) -> list[GridEdge]:
        return [e for e in self.edges if e.source_node_id == node_id and e.is_enabled]

    def incoming(self, node_id: str) -> list[GridEdge]:
        return [e for e in self.edges if e.target_node_id == node_id and e.is_enabled]

    def topological_order(self) -> list[GridNode]:
        """Enabled nodes so that every node comes after its predecessors.

        `loop` edges point backwards on purpose and are left out; any other cycle makes the
        grid unrunnable and raises `InvalidArgument`. Ties keep `execution_order`, then node id.
        """
        enabled = sorted(
            (n for n in self.nodes if n.is_enabled),
            key=lambda n: (n.execution_order is None, n.execution_order or 0, n.node_id),
        )
        ids = {n.node_id for n in enabled}
        edges = [e for e in self.edges if e.is_enabled and e.type != EdgeType.LOOP
                 and e.source_node_id in ids and e.target_node_id in ids]
        waiting = {n.node_id: 0 for n in enabled}
        for edge in edges:
            waiting[edge.target_node_id] += 1
        order: list[GridNode] = []
        ready = [n for n in enabled if waiting[n.node_id] == 0]
        while ready:
            node = ready.pop(0)
            order.append(node)
            for edge in (e for e in edges if e.source_node_id == node.node_id):
                waiting[edge.target_node_id] -= 1
                if waiting[edge.target_node_id] == 0:
                    ready.append(self.node(edge.target_node_id))
        if len(order) != len(enabled):
            stuck = sorted(node_id for node_id, n in waiting.items() if n > 0)
            raise InvalidArgument(f"grid {self.grid.name!r} has a cycle through {stuck}")
        return order


@dataclass(frozen=True)
class FailingGrid:
    grid: GalaxyGrid
    last_failed_at: datetime
    last_error: dict[str, Any] | None


class GridRepository(Repository[GalaxyGrid]):
    model = GalaxyGrid
    sortable = frozenset({"created_at", "updated_at", "name", "execution_count"})
    archive_values = {"status": GridStatus.ARCHIVED}

    async def search(
        self, text: str = "", *, status: GridStatus | None = None, limit: int = 20,
        cursor: str | None = None,
    ) -> Page[GalaxyGrid]:
        where: list[sa.ColumnElement[bool]] = []
        if text.strip():
            where.append(ilike_any(text.strip(), GalaxyGrid.name, GalaxyGrid.description))
        if status is not None:
            where.append(GalaxyGrid.status == status)
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)

    async def by_name(self, name: str) -> GalaxyGrid | None:
        rows = await self._all(sa.func.lower(GalaxyGrid.name) == name.strip().lower(), limit=1)
        return rows[0] if rows else None

    async def load_graph(self, grid_id: uuid.UUID) -> GridGraph:
        grid = await self.get(grid_id)
        nodes = await GridNodeRepository(self.session, self.scope).for_grid(grid_id)
        edges = await GridEdgeRepository(self.session, self.scope).for_grid(grid_id)
        return GridGraph(grid, nodes, edges)

    async def replace_graph(
        self, grid_id: uuid.UUID, nodes: Sequence[Mapping[str, Any]],
        edges: Sequence[Mapping[str, Any]],
    ) -> GridGraph:
        """Replace a grid's whole graph (what the builder saves), in this transaction."""
        await self.get(grid_id)
        for model in (GridEdge, GridNode):
            await self.session.execute(
                sa.delete(model).where(model.workspace_id == self.scope.workspace_id,
                                       model.grid_id == grid_id)
            )
        await GridNodeRepository(self.session, self.scope).create_many(
            [{**n, "grid_id": grid_id} for n in nodes]
        )
        await GridEdgeRepository(self.session, self.scope).create_many(
            [{**e, "grid_id": grid_id} for e in edges]
        )
        return await self.load_graph(grid_id)

    async def publish(self, grid_id: uuid.UUID) -> GalaxyGrid:
        """Publish the grid; each republish after the first is a new version."""
        grid = await self.get(grid_id)
        if grid.status == GridStatus.ARCHIVED:
            raise Conflict(f"grid {grid.name!r} is archived")
        graph = await self.load_graph(grid_id)
        graph.topological_order()  # refuses a grid that could never run
        version = grid.version + (1 if grid.published_at is not None else 0)
        return await self.update(
            grid_id, status=GridStatus.PUBLISHED, published_at=utcnow(), version=version
        )

    async def refresh_stats(self, grid_id: uuid.UUID) -> GalaxyGrid:
        """Recompute run count, success rate and average duration from finished runs."""
        ex = GridExecution
        total, succeeded, avg, last = (await self.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(ex.status == GridRunStatus.COMPLETED),
                sa.func.avg(ex.duration_ms),
                sa.func.max(ex.completed_at),
            ).where(ex.workspace_id == self.scope.workspace_id, ex.grid_id == grid_id,
                    ex.status.in_(FINISHED))
        )).one()
        return await self.update(
            grid_id, execution_count=int(total), last_executed_at=last,
            success_rate=round(100 * succeeded / total, 1) if total else None,
            avg_duration_ms=None if avg is None else round(avg),
        )

    async def failing(self, consecutive: int = 3) -> list[FailingGrid]:
        """Grids whose last `consecutive` finished runs all failed (cancelled runs ignored)."""
        if consecutive < 1:
            raise InvalidArgument("consecutive must be at least 1")
        ex = GridExecution
        began = sa.func.coalesce(ex.started_at, ex.created_at)
        ranked = (
            sa.select(ex.grid_id, ex.status, began.label("began"), ex.error,
                      sa.func.row_number().over(partition_by=ex.grid_id,
                                                order_by=(began.desc(), ex.id.desc())).label("rn"))
            .where(ex.workspace_id == self.scope.workspace_id, ex.status.in_(FINISHED))
            .subquery()
        )
        streaks = (await self.session.execute(
            sa.select(ranked.c.grid_id, sa.func.max(ranked.c.began),
                      sa.func.jsonb_agg(ranked.c.error).filter(ranked.c.rn == 1))
            .where(ranked.c.rn <= consecutive)
            .group_by(ranked.c.grid_id)
            .having(sa.func.count() == consecutive)
            .having(sa.func.bool_and(ranked.c.status == GridRunStatus.FAILED))
        )).all()
        grids = {g.id: g for g in await self.get_many(s[0] for s in streaks)}
        found = [FailingGrid(grids[g], last, (errors or [None])[0]) for g, last, errors in streaks]
        return sorted(found, key=lambda f: f.last_failed_at, reverse=True)


class GridNodeRepository(Repository[GridNode]):
    model = GridNode

    async def for_grid(self, grid_id: uuid.UUID) -> list[GridNode]:
        return await self._all(
            GridNode.grid_id == grid_id,
            order_by=[GridNode.execution_order.asc().nulls_last(), GridNode.node_id],
        )

    async def by_node_id(self, grid_id: uuid.UUID, node_id: str) -> GridNode:
        rows = await self._all(GridNode.grid_id == grid_id, GridNode.node_id == node_id, limit=1)
        if not rows:
            raise NotFound("grid node", node_id)
        return rows[0]

    async def set_status(self, grid_id: uuid.UUID, node_id: str, status: NodeStatus) -> GridNode:
        node = await self.by_node_id(grid_id, node_id)
        return await self.update(node.id, status=status)

    async def reset_statuses(self, grid_id: uuid.UUID) -> None:
        """Every node of the grid back to idle, before a new run paints them."""
        await self.session.execute(
            sa.update(GridNode)
            .where(GridNode.workspace_id == self.scope.workspace_id, GridNode.grid_id == grid_id)
            .values(status=NodeStatus.IDLE, updated_at=sa.func.now())
            .execution_options(synchronize_session="fetch")
        )


class GridEdgeRepository(Repository[GridEdge]):
    model = GridEdge

    async def for_grid(self, grid_id: uuid.UUID) -> list[GridEdge]:
        return await self._all(GridEdge.grid_id == grid_id, order_by=[GridEdge.edge_id])


class GridExecutionRepository(Repository[GridExecution]):
    model = GridExecution

    async def for_grid(
        self, grid_id: uuid.UUID, *, status: GridRunStatus | None = None, limit: int = 20,
        cursor: str | None = None,
    ) -> Page[GridExecution]:
        where = [GridExecution.grid_id == grid_id]
        if status is not None:
            where.append(GridExecution.status == status)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def start(
        self, grid_id: uuid.UUID, *, trigger_type: str = "manual",
        trigger_data: Mapping[str, Any] | None = None, triggered_by: uuid.UUID | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> GridExecution:
        """A running execution of the grid's current version, started now."""
        return await self._open(grid_id, GridRunStatus.RUNNING, trigger_type=trigger_type,
                                trigger_data=trigger_data, triggered_by=triggered_by,
                                context=context, started_at=utcnow())

    async def queue(
        self, grid_id: uuid.UUID, *, trigger_type: str = "manual",
        trigger_data: Mapping[str, Any] | None = None, triggered_by: uuid.UUID | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> GridExecution:
        """A `pending` execution of the grid's current version, for the worker to claim."""
        return await self._open(grid_id, GridRunStatus.PENDING, trigger_type=trigger_type,
                                trigger_data=trigger_data, triggered_by=triggered_by,
                                context=context)

    async def _open(
        self, grid_id: uuid.UUID, status: GridRunStatus, *, trigger_type: str,
        trigger_data: Mapping[str, Any] | None, triggered_by: uuid.UUID | None,
        context: Mapping[str, Any] | None, **values: Any,
    ) -> GridExecution:
        grid = await GridRepository(self.session, self.scope).get(grid_id)
        if grid.status == GridStatus.ARCHIVED:
            raise Conflict(f"grid {grid.name!r} is archived")
        return await self.create(
            grid_id=grid_id, grid_version=grid.version, status=status,
            trigger_type=trigger_type, trigger_data=dict(trigger_data or {}),
            triggered_by=triggered_by, context=dict(context or {}), **values,
        )

    async def transition(
        self, execution_id: uuid.UUID, expected: Collection[GridRunStatus],
        *extra: sa.ColumnElement[bool], **values: Any,
    ) -> GridExecution | None:
        """Set `values` only if the execution's status is still one of `expected` (and the
        `extra` conditions hold), in one conditional UPDATE; None when it was not. Of two
        concurrent callers expecting the same status, exactly one moves the row."""
        ex = GridExecution
        row: GridExecution | None = await self.session.scalar(
            sa.update(ex)
            .where(ex.workspace_id == self.scope.workspace_id, ex.id == execution_id,
                   ex.status.in_(list(expected)), *extra)
            .values(**values, updated_at=sa.func.now())
            .returning(ex),
            execution_options={"populate_existing": True, "synchronize_session": False},
        )
        return row

    async def claim(self, execution_id: uuid.UUID, now: datetime) -> GridExecution | None:
        """Take a pending execution, or a waiting one whose `resume_at` has come, for running;
        None when it is not runnable now (another worker has it, or it is not due)."""
        ex = GridExecution
        due = sa.or_(ex.status == GridRunStatus.PENDING, ex.resume_at <= now)
        return await self.transition(
            execution_id, [GridRunStatus.PENDING, GridRunStatus.WAITING], due,
            status=GridRunStatus.RUNNING, resume_at=None,
            started_at=sa.func.coalesce(ex.started_at, sa.func.now()),
        )

    async def finish(
        self, execution_id: uuid.UUID, status: GridRunStatus, *,
        result: Mapping[str, Any] | None = None, error: Mapping[str, Any] | None = None,
        expected: Collection[GridRunStatus] = UNFINISHED,
    ) -> GridExecution:
        """End a run that is still in one of the `expected` states (a conditional update, so
        a run ends once): node counters come from its recorded steps; the grid's stats follow."""
        if not GridRunStatus(status).is_final:
            raise InvalidArgument(f"{status} is not a final execution status")
        run = await self.get(execution_id)
        if run.status.is_final:
            raise Conflict(f"grid execution {execution_id} already ended ({run.status})")
        steps = await ExecutionStepRepository(self.session, self.scope).for_execution(run.id)
        ran = [s for s in steps if s.status != StepStatus.SKIPPED]
        now = utcnow()
        finished = await self.transition(
            execution_id, expected, status=status, completed_at=now, resume_at=None,
            duration_ms=_millis(run.started_at, now),
            result=None if result is None else dict(result),
            error=None if error is None else dict(error), nodes_executed=len(ran),
            nodes_succeeded=sum(s.status == StepStatus.COMPLETED for s in ran),
            nodes_failed=sum(s.status == StepStatus.FAILED for s in ran),
        )
        if finished is None:
            await self.session.refresh(run)
            raise Conflict(f"grid execution {execution_id} is {run.status}, not "
                           f"{' or '.join(sorted(expected))}")
        await GridRepository(self.session, self.scope).refresh_stats(run.grid_id)
        return finished


class ExecutionStepRepository(Repository[ExecutionStep]):
    model = ExecutionStep

    async def for_execution(self, execution_id: uuid.UUID) -> list[ExecutionStep]:
        return await self._all(
            ExecutionStep.execution_id == execution_id,
            order_by=[ExecutionStep.sequence, ExecutionStep.created_at, ExecutionStep.id],
        )

    async def record(
        self, execution_id: uuid.UUID, node_id: str, *, status: StepStatus,
        node_name: str | None = None, node_type: NodeType | None = None,
        input: Mapping[str, Any] | None = None, output: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None, started_at: datetime | None = None,
        completed_at: datetime | None = None, sequence: int | None = None,
    ) -> ExecutionStep:
        """Record one node's run; without `sequence` it goes after the steps recorded so far."""
        if sequence is None:
            current = await self.session.scalar(
                sa.select(sa.func.max(ExecutionStep.sequence)).where(
                    ExecutionStep.workspace_id == self.scope.workspace_id,
                    ExecutionStep.execution_id == execution_id,
                )
            )
            sequence = 1 if current is None else current + 1
        return await self.create(
            execution_id=execution_id, node_id=node_id, sequence=sequence, status=status,
            node_name=node_name, node_type=node_type, input=dict(input or {}),
            output=None if output is None else dict(output),
            error=None if error is None else dict(error), started_at=started_at,
            completed_at=completed_at, duration_ms=_millis(started_at, completed_at),
        )

    async def complete(
        self, step_id: uuid.UUID, status: StepStatus, *,
        output: Mapping[str, Any] | None = None, error: Mapping[str, Any] | None = None,
    ) -> ExecutionStep:
        """Close a step recorded as running."""
        step = await self.get(step_id)
        now = utcnow()
        return await self.update(
            step_id, status=status, completed_at=now, duration_ms=_millis(step.started_at, now),
            output=None if output is None else dict(output),
            error=None if error is None else dict(error),
        )


class GridTemplateCatalogue(Catalogue[GridTemplate]):
    model = GridTemplate

    async def published(
        self, *, category: str | None = None, featured_only: bool = False, limit: int = 20
    ) -> list[GridTemplate]:
        stmt = self.select().where(GridTemplate.is_published.is_(True))
        if category is not None:
            stmt = stmt.where(GridTemplate.category == category)
        if featured_only:
            stmt = stmt.where(GridTemplate.is_featured.is_(True))
        stmt = stmt.order_by(GridTemplate.usage_count.desc(), GridTemplate.name).limit(limit)
        return list(await self.session.scalars(stmt))
