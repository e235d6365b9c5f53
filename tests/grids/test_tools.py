"""The grid tools: each does what it says (and audits it), refuses bad arguments and viewers
without writing anything, and treats another workspace's ids as missing."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from store.demo.grids import seed_catalogue
from store.models.admin import AuditLog
from store.models.core import MemberRole
from store.models.grids import ExecutionStep, GalaxyGrid, GridEdge, GridExecution, GridNode
from store.repositories.grids import GridRepository, GridTemplateCatalogue
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture, demo_context
from tests.grids.support import Sessions, advance, chain, create, edge, node, start
from tests.tools.helpers import audit_trail, row_counts, rows, unchanged
from tools.errors import RetryableToolError, ToolFailed

START = node("start", "trigger", event="deal.won")
MAIL = node("mail", "email", to="ops@example.com", body="{{ input.deal }} won")
NODES = [START, MAIL]
EDGES = chain("start", "mail")
TABLES = (GalaxyGrid, GridNode, GridEdge, GridExecution, ExecutionStep, AuditLog)


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    return await row_counts(sessions, ws, *TABLES)


def graph(nodes: list[dict[str, Any]] = NODES,
          edges: list[dict[str, Any]] = EDGES) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges}


async def test_create_grid_saves_the_graph_and_audits_it(call_tool: Any, sessions: Sessions,
                                                        ws: WorkspaceFixture) -> None:
    args = {"name": "Won deals", "description": "Tell ops", "graph": graph(),
            "settings": {"max_steps": 50}}
    result = await call_tool(ws, "create_grid", args, key="create-1")
    grid = result.grid
    assert (grid.name, grid.status, grid.version) == ("Won deals", "draft", 1)
    assert [(n.id, n.type) for n in result.nodes] == [("start", "trigger"), ("mail", "email")]
    assert [(e.id, e.source, e.target, e.type) for e in result.edges] == [
        ("e1", "start", "mail", "default")]
    [row] = await rows(sessions, ws, GalaxyGrid)
    assert (row.trigger_type, row.trigger_config, row.settings, row.created_by) == (
        "event", {"event": "deal.won"}, {"max_steps": 50}, ws.user_id)
    assert await audit_trail(sessions, ws, "grid", row.id) == [("create", {
        "name": {"before": None, "after": "Won deals"},
        "description": {"before": None, "after": "Tell ops"},
        "status": {"before": None, "after": "draft"}, "version": {"before": None, "after": 1},
        "settings": {"before": None, "after": {"max_steps": 50}},
        "trigger_type": {"before": None, "after": "event"},
        "nodes": {"before": None, "after": ["mail", "start"]},
        "edges": {"before": None, "after": 1}})]
    again = await call_tool(ws, "create_grid", args, key="create-1")
    assert again.grid.id == grid.id and len(await rows(sessions, ws, GalaxyGrid)) == 1


@pytest.mark.parametrize(("args", "message"), [
    ({"name": "x", "graph": graph([MAIL], [])}, "a grid needs exactly one enabled trigger"),
    ({"name": "x", "graph": graph(), "template": "lead-enrichment"}, "either graph"),
    ({"name": "x"}, "either graph"),
    ({"name": "", "graph": graph()}, "name"),
    ({"name": "x", "graph": graph([START, node("bad id", "transform", expression="1")], [])},
     "String should match pattern"),
    ({"name": "x", "graph": graph([START, node("a", "transform", expression="1")],
                                  [edge("start", "a"), edge("a", "a")])}, "closes a cycle"),
    ({"name": "x", "graph": graph([START, node("a", "wat")], [])}, "nodes.1.type"),
    ({"name": "x", "template": "no-such-template"}, "no grid template 'no-such-template'"),
    ({"name": "x", "graph": graph(), "owner": "me"}, "Extra inputs are not permitted"),
])
async def test_create_grid_refuses_invalid_arguments(call_tool: Any, sessions: Sessions,
                                                     ws: WorkspaceFixture, args: dict[str, Any],
                                                     message: str) -> None:
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(RetryableToolError, match=message):
            await call_tool(ws, "create_grid", args)


async def test_templates_list_and_seed_a_grid(call_tool: Any, sessions: Sessions,
                                              ws: WorkspaceFixture) -> None:
    slug = f"tpl-{uuid.uuid4().hex[:8]}"
    category = f"cat-{uuid.uuid4().hex[:6]}"
    async with scoped_session(sessions, ws.scope) as session:
        await GridTemplateCatalogue(session).ensure([{
            "slug": slug, "name": "Notify ops", "category": category,
            "nodes": [{"node_id": "start", "type": "trigger", "label": "Start", "config": {}},
                      {"node_id": "mail", "type": "email", "label": "Mail",
                       "config": {"to": "ops@example.com"}, "position": {"x": 1, "y": 2}}],
            "edges": [{"edge_id": "go", "source_node_id": "start", "target_node_id": "mail"}],
        }])
    listed = await call_tool(ws, "list_grid_templates", {"category": category},
                             role=MemberRole.VIEWER)
    assert [(t.slug, t.node_types) for t in listed.templates] == [(slug, ["trigger", "email"])]
    made = await call_tool(ws, "create_grid", {"name": "From template", "template": slug})
    assert [n.id for n in made.nodes] == ["start", "mail"] and made.edges[0].id == "go"
    [mail] = await rows(sessions, ws, GridNode, GridNode.node_id == "mail")
    assert mail.position == {"x": 1, "y": 2}


async def test_list_and_get_grids(call_tool: Any, sessions: Sessions,
                                  ws: WorkspaceFixture) -> None:
    grid_id = await create(call_tool, ws, NODES, EDGES)
    await call_tool(ws, "create_grid", {"name": "Other", "graph": graph()})
    listed = await call_tool(ws, "list_grids", {"limit": 1}, role=MemberRole.VIEWER)
    assert len(listed.grids) == 1 and listed.has_more
    found = await call_tool(ws, "list_grids", {"query": "other"}, role=MemberRole.VIEWER)
    assert [g.name for g in found.grids] == ["Other"]
    detail = await call_tool(ws, "get_grid", {"grid_id": str(grid_id)}, role=MemberRole.VIEWER)
    assert detail.grid.id == grid_id and [n.id for n in detail.nodes] == ["start", "mail"]
    with pytest.raises(RetryableToolError, match="invalid arguments"):
        await call_tool(ws, "list_grids", {"limit": 500})


async def test_update_grid_replaces_the_graph(call_tool: Any, sessions: Sessions,
                                              ws: WorkspaceFixture) -> None:
    grid_id = await create(call_tool, ws, NODES, EDGES)
    wait = node("wait", "delay", hours=1)
    result = await call_tool(ws, "update_grid", {
        "grid_id": str(grid_id), "name": "Renamed",
        "graph": graph([START, wait, MAIL], chain("start", "wait", "mail"))})
    assert result.grid.name == "Renamed"
    assert [n.id for n in result.nodes] == ["start", "wait", "mail"]
    assert len(await rows(sessions, ws, GridEdge)) == 2
    [(action, changes)] = (await audit_trail(sessions, ws, "grid", grid_id))[1:]
    assert action == "update" and changes["name"]["after"] == "Renamed"
    assert changes["name"]["before"].startswith("Grid ")
    assert changes["nodes"] == {"before": ["mail", "start"], "after": ["mail", "start", "wait"]}
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(RetryableToolError, match="no argument"):
            await call_tool(ws, "update_grid", {"grid_id": str(grid_id), "graph": graph(
                [START, node("a", "action", tool="create_task", arguments={"nope": 1})],
                chain("start", "a"))})


async def test_publish_and_archive(call_tool: Any, sessions: Sessions,
                                   ws: WorkspaceFixture) -> None:
    grid_id = await create(call_tool, ws, NODES, EDGES)
    published = await call_tool(ws, "publish_grid", {"grid_id": str(grid_id)})
    assert (published.grid.status, published.grid.version) == ("published", 1)
    archived = await call_tool(ws, "archive_grid", {"grid_id": str(grid_id)})
    assert archived.grid.status == "archived"
    assert [a for a, _ in await audit_trail(sessions, ws, "grid", grid_id)] == [
        "create", "publish", "archive"]
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="archived"):
            await call_tool(ws, "run_grid", {"grid_id": str(grid_id)})
        with pytest.raises(ToolFailed, match="archived"):
            await call_tool(ws, "update_grid", {"grid_id": str(grid_id), "name": "x"})


async def test_a_grid_with_a_loop_publishes(call_tool: Any, sessions: Sessions,
                                           ws: WorkspaceFixture) -> None:
    nodes = [START, node("each", "loop", items="input.rows"),
             node("work", "transform", expression="item"), MAIL]
    edges = [edge("start", "each"), edge("each", "work"), edge("work", "each"),
             edge("each", "mail")]
    grid_id = await create(call_tool, ws, nodes, edges)
    stored = {e.source_node_id: e.type for e in await rows(sessions, ws, GridEdge)
              if e.target_node_id == "each"}
    assert stored == {"start": "default", "work": "loop"}
    published = await call_tool(ws, "publish_grid", {"grid_id": str(grid_id)})
    assert published.grid.status == "published"


async def test_an_invalid_stored_grid_cannot_be_published_or_run(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture,
) -> None:
    async with scoped_session(sessions, ws.scope) as session:
        grids = GridRepository(session, ws.scope)
        grid = await grids.create(name="Hand made")
        await grids.replace_graph(grid.id, [
            {"node_id": "a", "type": "transform", "label": "A", "config": {}}], [])
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(RetryableToolError, match=r"cannot be published: node 'a' \("):
            await call_tool(ws, "publish_grid", {"grid_id": str(grid.id)})
        with pytest.raises(RetryableToolError, match=r"cannot run: .*transform"):
            await call_tool(ws, "run_grid", {"grid_id": str(grid.id)})
    checked = await call_tool(ws, "validate_grid", {"grid_id": str(grid.id)},
                              role=MemberRole.VIEWER)
    assert not checked.valid and checked.errors == [
        "node 'a' (transform): config: give either `mapping` or `expression`",
        "grid: a grid needs exactly one enabled trigger node (found none)"]


async def test_validate_grid_checks_a_graph_before_saving(call_tool: Any, sessions: Sessions,
                                                          ws: WorkspaceFixture) -> None:
    async with unchanged(footprint, sessions, ws):
        ok = await call_tool(ws, "validate_grid", {"graph": graph()}, role=MemberRole.VIEWER)
        assert ok.valid and ok.errors == [] and ok.warnings == []
        bad = await call_tool(ws, "validate_grid", {"graph": graph(
            [START, node("x", "condition", expression="input.a ==")], [edge("start", "x")])},
            role=MemberRole.VIEWER)
        assert not bad.valid and bad.errors[0].startswith("node 'x' (condition): expression:")
        with pytest.raises(RetryableToolError, match="either grid_id or graph"):
            await call_tool(ws, "validate_grid", {})


async def test_run_follow_and_cancel(call_tool: Any, sessions: Sessions,
                                     ws: WorkspaceFixture) -> None:
    grid_id = await create(call_tool, ws, NODES, EDGES)
    queued = await call_tool(ws, "run_grid", {"grid_id": str(grid_id), "input": {"deal": "Acme"}},
                             key="run-1")
    execution = queued.execution
    assert execution.status == "pending" and execution.waiting_for is None
    again = await call_tool(ws, "run_grid", {"grid_id": str(grid_id)}, key="run-1")
    assert again.execution.id == execution.id
    [row] = await rows(sessions, ws, GridExecution)
    assert (row.triggered_by, row.trigger_data, row.grid_version) == (
        ws.user_id, {"deal": "Acme"}, 1)
    assert row.context["input"] == {"deal": "Acme"} and len(row.context["graph"]["nodes"]) == 2
    assert [a for a, _ in await audit_trail(sessions, ws, "grid_execution", row.id)] == [
        "create"]

    await advance(sessions, ws, execution.id)
    detail = await call_tool(ws, "get_grid_execution", {"execution_id": str(execution.id)},
                             role=MemberRole.VIEWER)
    assert detail.execution.status == "completed" and detail.execution.nodes_executed == 2
    assert [(s.node_id, s.status) for s in detail.steps] == [("start", "completed"),
                                                            ("mail", "completed")]
    assert detail.steps[0].input == {"deal": "Acme"}
    listed = await call_tool(ws, "list_grid_executions", {"grid_id": str(grid_id)},
                             role=MemberRole.VIEWER)
    assert [e.id for e in listed.executions] == [execution.id]

    pending = await start(call_tool, ws, grid_id)
    cancelled = await call_tool(ws, "cancel_grid_execution", {"execution_id": str(pending)})
    assert cancelled.execution.status == "cancelled"
    assert [a for a, _ in await audit_trail(sessions, ws, "grid_execution", pending)] == [
        "create", "cancel"]
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="already ended"):
            await call_tool(ws, "cancel_grid_execution", {"execution_id": str(pending)})
        with pytest.raises(RetryableToolError, match="input"):
            await call_tool(ws, "run_grid", {"grid_id": str(grid_id), "input": [1, 2]})


WRITES: list[tuple[str, dict[str, Any]]] = [
    ("create_grid", {"name": "x", "graph": graph()}),
    ("update_grid", {"grid_id": "{grid}", "name": "y"}),
    ("publish_grid", {"grid_id": "{grid}"}),
    ("archive_grid", {"grid_id": "{grid}"}),
    ("run_grid", {"grid_id": "{grid}"}),
    ("cancel_grid_execution", {"execution_id": "{run}"}),
]
READS: list[tuple[str, dict[str, Any]]] = [
    ("get_grid", {"grid_id": "{grid}"}),
    ("validate_grid", {"grid_id": "{grid}"}),
    ("get_grid_execution", {"execution_id": "{run}"}),
    ("list_grid_executions", {"grid_id": "{grid}"}),
]


def filled(args: dict[str, Any], grid: uuid.UUID, run: uuid.UUID) -> dict[str, Any]:
    return {k: v.format(grid=grid, run=run) if isinstance(v, str) else v
            for k, v in args.items()}


async def test_viewers_cannot_write(call_tool: Any, sessions: Sessions,
                                    ws: WorkspaceFixture) -> None:
    grid_id = await create(call_tool, ws, NODES, EDGES)
    run_id = await start(call_tool, ws, grid_id)
    async with unchanged(footprint, sessions, ws):
        for name, args in WRITES:
            with pytest.raises(ToolFailed, match="needs the member role"):
                await call_tool(ws, name, filled(args, grid_id, run_id), role=MemberRole.VIEWER)


async def test_another_workspaces_ids_are_not_found(
    call_tool: Any, sessions: Sessions, two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    mine, theirs = two
    grid_id = await create(call_tool, theirs, NODES, EDGES)
    run_id = await start(call_tool, theirs, grid_id)
    async with unchanged(footprint, sessions, mine, theirs):
        for name, args in [*WRITES[1:], *READS]:
            with pytest.raises(RetryableToolError, match="in this workspace"):
                await call_tool(mine, name, filled(args, grid_id, run_id))


@pytest.mark.parametrize("slug", ["lead-enrichment", "weekly-pipeline-digest"])
async def test_the_demo_templates_make_valid_grids(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, slug: str,
) -> None:
    """The templates the demo ships name real tools and valid configs, so a user's first
    "create a grid from the lead template" works."""
    async with scoped_session(sessions, ws.scope) as session:
        await seed_catalogue(demo_context(session, ws))
    made = await call_tool(ws, "create_grid", {"name": f"From {slug}", "template": slug})
    checked = await call_tool(ws, "validate_grid", {"grid_id": str(made.grid.id)})
    assert checked.valid, checked
