"""Grid repositories against the real database: graphs, runs, steps, failing grids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import agents as agents_demo
from store.demo import crm as crm_demo
from store.demo import grids as grids_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.grids import (
    EdgeType,
    GridRunStatus,
    GridStatus,
    NodeStatus,
    NodeType,
    StepStatus,
)
from store.repositories.grids import (
    ExecutionStepRepository,
    GridEdgeRepository,
    GridExecutionRepository,
    GridNodeRepository,
    GridRepository,
    GridTemplateCatalogue,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


def node(node_id: str, kind: NodeType = NodeType.ACTION, **extra: Any) -> dict[str, Any]:
    return {"node_id": node_id, "type": kind, "label": node_id.title(), **extra}


def edge(edge_id: str, source: str, target: str, **extra: Any) -> dict[str, Any]:
    return {"edge_id": edge_id, "source_node_id": source, "target_node_id": target, **extra}


DIAMOND = (
    [
        node("start", NodeType.TRIGGER),
        node("left"),
        node("right", NodeType.AI),
        node("join", NodeType.MERGE),
        node("off", is_enabled=False),
    ],
    [
        edge("a", "start", "left"),
        edge("b", "start", "right"),
        edge("c", "left", "join"),
        edge("d", "right", "join"),
        edge("back", "join", "start", type=EdgeType.LOOP),
        edge("dead", "off", "join"),
    ],
)


async def test_grid_crud_search_and_publish(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        grids = GridRepository(s, ws.scope)
        lead = await grids.create(
            name="Lead enrichment",
            description="Score new signups",
            created_by=ws.user_id,
            trigger_config={"event": "x"},
        )
        digest = await grids.create(name="Weekly digest")
        for i in range(3):
            await grids.create(name=f"Scratch {i}")
        assert [g.id for g in (await grids.search("signups")).items] == [lead.id]
        assert (await grids.by_name("weekly DIGEST")) is not None
        page = await grids.search(limit=3)
        assert [g.name for g in page.items] == ["Lead enrichment", "Scratch 0", "Scratch 1"]
        rest = await grids.search(limit=3, cursor=page.next_cursor)
        assert [g.name for g in rest.items] == ["Scratch 2", "Weekly digest"]
        await grids.replace_graph(lead.id, *DIAMOND)
        first = await grids.publish(lead.id)
        assert (first.status, first.version) == (GridStatus.PUBLISHED, 1)
        assert first.published_at is not None
        assert (await grids.publish(lead.id)).version == 2
        assert [g.id for g in (await grids.search(status=GridStatus.PUBLISHED)).items] == [lead.id]
        assert (await grids.update(digest.id, description="Mondays")).description == "Mondays"
        assert (await grids.archive(digest.id)).status == GridStatus.ARCHIVED
        with pytest.raises(Conflict, match="archived"):
            await grids.publish(digest.id)
        await grids.replace_graph(
            digest.id, [node("x"), node("y")], [edge("1", "x", "y"), edge("2", "y", "x")]
        )
        await grids.update(digest.id, status=GridStatus.DRAFT)
        with pytest.raises(InvalidArgument, match="cycle"):
            await grids.publish(digest.id)
        await grids.delete(digest.id)
        with pytest.raises(NotFound):
            await grids.get(digest.id)
        assert await GridNodeRepository(s, ws.scope).count(grid_id=digest.id) == 0
        assert await grids.count() == 4


async def test_graph_load_replace_and_topology(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        grids = GridRepository(s, ws.scope)
        grid = await grids.create(name="Diamond")
        graph = await grids.replace_graph(grid.id, *DIAMOND)
        assert {n.node_id for n in graph.nodes} == {"start", "left", "right", "join", "off"}
        assert len(graph.edges) == 6
        assert {e.target_node_id for e in graph.outgoing("start")} == {"left", "right"}
        assert {e.source_node_id for e in graph.incoming("join")} == {"left", "right", "off"}
        order = [n.node_id for n in graph.topological_order()]
        assert order[0] == "start" and order[-1] == "join" and "off" not in order
        assert order.index("left") < order.index("join") > order.index("right")
        assert graph.node("right").type == NodeType.AI
        with pytest.raises(NotFound):
            graph.node("nowhere")

        smaller = await grids.replace_graph(grid.id, [node("only", NodeType.TRIGGER)], [])
        assert [n.node_id for n in smaller.nodes] == ["only"] and smaller.edges == []
        loaded = await grids.load_graph(grid.id)
        assert [n.node_id for n in loaded.nodes] == ["only"]
        assert await GridEdgeRepository(s, ws.scope).count(grid_id=grid.id) == 0


async def test_edges_follow_their_nodes(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        grids = GridRepository(s, ws.scope)
        grid_id = (await grids.create(name="Chain")).id
        await grids.replace_graph(
            grid_id, [node("a"), node("b"), node("c")], [edge("ab", "a", "b"), edge("bc", "b", "c")]
        )
        nodes = GridNodeRepository(s, ws.scope)
        b = await nodes.by_node_id(grid_id, "b")
        await nodes.update(b.id, node_id="enrich")
        s.expire_all()
        edges = await GridEdgeRepository(s, ws.scope).for_grid(grid_id)
        assert [(e.source_node_id, e.target_node_id) for e in edges] == [
            ("a", "enrich"),
            ("enrich", "c"),
        ]
        await nodes.delete((await nodes.by_node_id(grid_id, "c")).id)
        s.expire_all()
        assert [e.edge_id for e in await GridEdgeRepository(s, ws.scope).for_grid(grid_id)] == [
            "ab"
        ]
        with pytest.raises(NotFound):
            await nodes.by_node_id(grid_id, "c")
    with pytest.raises(NotFound):
        async with scoped_session(sessions, ws.scope) as s:
            await GridEdgeRepository(s, ws.scope).create(
                grid_id=grid_id, edge_id="dangling", source_node_id="a", target_node_id="ghost"
            )
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await GridNodeRepository(s, ws.scope).create(
                grid_id=grid_id, node_id="a", type=NodeType.ACTION, label="dup"
            )


async def test_node_statuses(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        grid = await GridRepository(s, ws.scope).create(name="G")
        nodes = GridNodeRepository(s, ws.scope)
        await nodes.create_many(
            [
                {
                    "grid_id": grid.id,
                    "node_id": "z",
                    "type": NodeType.DELAY,
                    "label": "Z",
                    "execution_order": 0,
                },
                {
                    "grid_id": grid.id,
                    "node_id": "a",
                    "type": NodeType.WEBHOOK,
                    "label": "A",
                    "execution_order": None,
                },
                {
                    "grid_id": grid.id,
                    "node_id": "m",
                    "type": NodeType.LOOP,
                    "label": "M",
                    "execution_order": 1,
                },
            ]
        )
        assert [n.node_id for n in await nodes.for_grid(grid.id)] == ["z", "m", "a"]
        running = await nodes.set_status(grid.id, "m", NodeStatus.RUNNING)
        assert running.status == NodeStatus.RUNNING
        await nodes.reset_statuses(grid.id)
        assert {n.status for n in await nodes.for_grid(grid.id)} == {NodeStatus.IDLE}
        assert len((await nodes.list(grid_id=grid.id, limit=2)).items) == 2


async def test_execution_steps_finish_and_grid_stats(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        grids = GridRepository(s, ws.scope)
        grid = await grids.create(name="Runner")
        await grids.replace_graph(grid.id, *DIAMOND)
        runs = GridExecutionRepository(s, ws.scope)
        steps = ExecutionStepRepository(s, ws.scope)
        run = await runs.start(grid.id, trigger_data={"contact": "c1"}, triggered_by=ws.user_id)
        assert run.status == GridRunStatus.RUNNING and run.grid_version == 1
        t0 = datetime.now(UTC)
        first = await steps.record(
            run.id,
            "start",
            status=StepStatus.COMPLETED,
            node_type=NodeType.TRIGGER,
            started_at=t0,
            completed_at=t0 + timedelta(milliseconds=15),
        )
        assert (first.sequence, first.duration_ms) == (1, 15)
        left = await steps.record(
            run.id, "left", status=StepStatus.RUNNING, started_at=t0, input={"x": 1}
        )
        left = await steps.complete(left.id, StepStatus.FAILED, error={"message": "boom"})
        assert left.sequence == 2 and left.duration_ms is not None and left.completed_at
        await steps.record(run.id, "right", status=StepStatus.COMPLETED, output={"score": 7})
        await steps.record(run.id, "join", status=StepStatus.SKIPPED)
        assert [x.node_id for x in await steps.for_execution(run.id)] == [
            "start",
            "left",
            "right",
            "join",
        ]
        done = await runs.finish(run.id, GridRunStatus.FAILED, error={"message": "left failed"})
        assert (done.nodes_executed, done.nodes_succeeded, done.nodes_failed) == (3, 2, 1)
        assert done.duration_ms is not None and done.completed_at is not None
        with pytest.raises(Conflict, match="already ended"):
            await runs.finish(run.id, GridRunStatus.COMPLETED)
        with pytest.raises(InvalidArgument):
            await runs.finish((await runs.start(grid.id)).id, GridRunStatus.RUNNING)
        ok = await runs.start(grid.id)
        await runs.finish(ok.id, GridRunStatus.COMPLETED, result={"done": True})
        await s.refresh(grid)
        assert grid.execution_count == 2 and grid.success_rate == 50.0
        assert grid.avg_duration_ms is not None and grid.last_executed_at is not None
        assert len((await runs.for_grid(grid.id)).items) == 3
        failed = await runs.for_grid(grid.id, status=GridRunStatus.FAILED)
        assert [r.id for r in failed.items] == [run.id]
        await grids.archive(grid.id)
        with pytest.raises(Conflict, match="archived"):
            await runs.start(grid.id)
        await grids.delete(grid.id)
        assert await steps.count() == 0 and await runs.count() == 0


async def test_failing_grids_needs_consecutive_failures(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    t0 = datetime.now(UTC) - timedelta(days=10)
    async with scoped_session(sessions, ws.scope) as s:
        grids = GridRepository(s, ws.scope)
        runs = GridExecutionRepository(s, ws.scope)
        histories = {
            "broken": ["completed", "failed", "failed", "failed"],
            "recovered": ["failed", "failed", "failed", "completed"],
            "flaky": ["completed", "failed", "failed"],
            "cancelled_between": ["failed", "failed", "cancelled", "failed", "running"],
            "healthy": ["completed"],
        }
        ids = {}
        for name, history in histories.items():
            grid = await grids.create(name=name)
            ids[name] = grid.id
            for day, status in enumerate(history):
                await runs.create(
                    grid_id=grid.id,
                    status=GridRunStatus(status),
                    started_at=t0 + timedelta(days=day),
                    error={"message": f"{name} day {day}"},
                )
        three = await grids.failing(3)
        assert {f.grid.name for f in three} == {"broken", "cancelled_between"}
        broken = next(f for f in three if f.grid.name == "broken")
        assert broken.last_error == {"message": "broken day 3"}
        assert broken.last_failed_at == t0 + timedelta(days=3)
        assert {f.grid.name for f in await grids.failing(2)} == {
            "broken",
            "cancelled_between",
            "flaky",
        }
        assert await grids.failing(5) == []
        with pytest.raises(InvalidArgument):
            await grids.failing(0)


async def test_other_workspace_grids_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await GridRepository(s, b.scope).create(name="Theirs")
        await GridRepository(s, b.scope).replace_graph(theirs.id, [node("n")], [])
        their_run = await GridExecutionRepository(s, b.scope).start(theirs.id)
    async with scoped_session(sessions, a.scope) as s:
        with pytest.raises(NotFound):
            await GridRepository(s, a.scope).load_graph(theirs.id)
        with pytest.raises(NotFound):
            await GridExecutionRepository(s, a.scope).start(theirs.id)
        with pytest.raises(NotFound):
            await GridExecutionRepository(s, a.scope).finish(their_run.id, GridRunStatus.FAILED)
        assert await GridRepository(s, a.scope).failing(1) == []
    with pytest.raises(NotFound, match="galaxy grid"):
        async with scoped_session(sessions, a.scope) as s:
            await GridNodeRepository(s, a.scope).create(
                grid_id=theirs.id, node_id="n", type=NodeType.ACTION, label="sneak"
            )
    with pytest.raises(NotFound, match="grid execution"):
        async with scoped_session(sessions, a.scope) as s:
            await ExecutionStepRepository(s, a.scope).record(
                their_run.id, "n", status=StepStatus.COMPLETED
            )


async def test_grid_template_catalogue(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    slug = f"tpl-{uuid.uuid4().hex[:8]}"
    async with scoped_session(sessions, ws.scope) as s:
        catalogue = GridTemplateCatalogue(s)
        ids = await catalogue.ensure(
            [
                {
                    "slug": slug,
                    "name": "Tpl",
                    "category": slug,
                    "nodes": DIAMOND[0][:1],
                    "edges": [],
                    "usage_count": 3,
                }
            ]
        )
        assert (
            await catalogue.ensure(
                [
                    {
                        "slug": slug,
                        "name": "Other",
                        "category": slug,
                        "nodes": [],
                        "edges": [],
                        "usage_count": 0,
                    }
                ]
            )
            == ids
        )
        template = await catalogue.get(ids[slug])
        assert template.name == "Tpl" and template.nodes[0]["node_id"] == "start"
        assert [t.slug for t in await catalogue.published(category=slug)] == [slug]
        assert await catalogue.published(category=slug, featured_only=True) == []


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=9)
        for module in (crm_demo, agents_demo, grids_demo):
            await module.seed(ctx)
        grids = GridRepository(s, ws.scope)
        lead = await grids.by_name("Lead enrichment")
        assert lead is not None and lead.status == GridStatus.PUBLISHED
        graph = await grids.load_graph(lead.id)
        assert 5 <= len(graph.nodes) <= 7 and len(graph.edges) >= len(graph.nodes) - 1
        assert {n.type for n in graph.nodes} >= {
            NodeType.TRIGGER,
            NodeType.ACTION,
            NodeType.CONDITION,
            NodeType.AI,
            NodeType.TRANSFORM,
        }
        assert len(graph.topological_order()) == len(graph.nodes)
        runs = (await GridExecutionRepository(s, ws.scope).for_grid(lead.id)).items
        assert len(runs) >= 2 and lead.execution_count == len(runs)
        steps = await ExecutionStepRepository(s, ws.scope).for_execution(runs[0].id)
        assert [x.sequence for x in steps] == list(range(1, len(graph.nodes) + 1))
        assert [f.grid.name for f in await grids.failing(3)] == ["Weekly pipeline digest"]
        assert await GridTemplateCatalogue(s).by_slug("lead-enrichment") is not None
