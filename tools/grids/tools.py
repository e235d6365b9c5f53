"""Grid tools: build grids (nodes and edges, or from a template), check them, run them, follow
and cancel their runs.

A grid is saved only when it validates (see `tools.grids.validation`), so every saved grid can
run unless the tools it calls change. `run_grid` only queues the run (status `pending`) and
returns at once; the worker runs it and `get_grid_execution` shows how it went. Every write
lands in the audit log in the same transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, model_validator

from store.errors import Conflict, InvalidArgument
from store.models.grids import GalaxyGrid, GridRunStatus, GridStatus, GridTemplate, NodeType
from store.repositories.grids import (
    ExecutionStepRepository,
    GridExecutionRepository,
    GridGraph,
    GridRepository,
    GridTemplateCatalogue,
)
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.grids import runs
from tools.grids.schemas import (
    ExecutionOut,
    Frozen,
    GraphIn,
    GraphSource,
    GridDetail,
    GridOut,
    SettingsIn,
    StepOut,
    TemplateOut,
    edge_rows,
    node_rows,
    normalized,
    template_rows,
)
from tools.grids.specs import GraphSpec, spec_from_rows
from tools.grids.validation import Report, default_registry, validate
from tools.jobs import nudge
from tools.registry import Risk, tool

GRID_FIELDS = ("name", "description", "status", "version", "settings", "trigger_type")
RUN_FIELDS = ("grid_id", "status", "trigger_data")
MAX_STEPS_SHOWN = 100


class GridIdArgs(Frozen):
    grid_id: uuid.UUID = Field(description="The grid, from list_grids.")


async def _detail(ctx: ToolContext, grid_id: uuid.UUID,
                  warnings: Sequence[str] = ()) -> GridDetail:
    graph = await GridRepository(ctx.session, ctx.scope).load_graph(grid_id)
    return GridDetail.of(graph, warnings)


def _checked(nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
             settings: dict[str, Any]) -> tuple[GraphSpec, Report]:
    """The graph's spec and report; an invalid graph is a retryable error listing why."""
    spec = spec_from_rows(nodes, edges, settings)
    report = validate(spec, default_registry())
    if not report.valid:
        raise InvalidArgument(f"the grid is not valid: {report.summary()}")
    return spec, report


def _trigger(spec: GraphSpec) -> tuple[str, dict[str, Any]]:
    """The grid's trigger type and config, from its trigger node."""
    node = next(n for n in spec.nodes if n.type == NodeType.TRIGGER and n.enabled)
    kind = "event" if node.config.get("event") else "schedule" if node.config.get("cron") \
        else "manual"
    return kind, dict(node.config)


async def _save_graph(ctx: ToolContext, grid_id: uuid.UUID, nodes: list[dict[str, Any]],
                      edges: list[dict[str, Any]], spec: GraphSpec) -> GridGraph:
    kind, config = _trigger(spec)
    await GridRepository(ctx.session, ctx.scope).update(grid_id, trigger_type=kind,
                                                        trigger_config=config)
    return await GridRepository(ctx.session, ctx.scope).replace_graph(
        grid_id, nodes, normalized(edges, spec))


def _settings(current: dict[str, Any], given: SettingsIn | None) -> dict[str, Any]:
    if given is None:
        return current
    return {**current, **given.model_dump(exclude_none=True)}


def _graph_summary(graph: GridGraph) -> dict[str, Any]:
    return {"nodes": sorted(n.node_id for n in graph.nodes), "edges": len(graph.edges)}


# -- reading ------------------------------------------------------------------------------------


class ListGridsArgs(Frozen):
    query: str = Field(default="", max_length=200, description="Text in the name or description.")
    status: GridStatus | None = Field(default=None, description="draft, published or archived.")
    limit: int = Field(default=20, ge=1, le=50, description="Grids per page (1-50).")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class GridList(BaseModel):
    grids: list[GridOut] = Field(description="By name.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=("which workflows do we have?", "list my published grids",
                               "find the lead enrichment grid"))
async def list_grids(ctx: ToolContext, args: ListGridsArgs) -> GridList:
    """List the workspace's grids (visual workflows), by name, with run statistics. Use
    get_grid for a grid's nodes and edges."""
    page = await GridRepository(ctx.session, ctx.scope).search(
        args.query, status=args.status, limit=args.limit, cursor=args.cursor)
    return GridList(grids=[GridOut.of(g) for g in page.items],
                    has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


@tool(risk=Risk.LOW, examples=("show me the lead enrichment grid", "what does this grid do?"))
async def get_grid(ctx: ToolContext, args: GridIdArgs) -> GridDetail:
    """Get one grid with all its nodes (type, label, config) and edges."""
    return await _detail(ctx, args.grid_id)


class ListTemplatesArgs(Frozen):
    category: str | None = Field(default=None, max_length=50,
                                 description="Only this category, e.g. 'sales'.")
    limit: int = Field(default=20, ge=1, le=50, description="Templates to return (1-50).")


class TemplateList(BaseModel):
    templates: list[TemplateOut] = Field(description="Most used first.")


@tool(risk=Risk.LOW, examples=("what grid templates are there?", "templates for sales"))
async def list_grid_templates(ctx: ToolContext, args: ListTemplatesArgs) -> TemplateList:
    """List the shared grid templates a new grid can start from (create_grid with `template`)."""
    rows = await GridTemplateCatalogue(ctx.session).published(category=args.category,
                                                              limit=args.limit)
    return TemplateList(templates=[TemplateOut.of(t) for t in rows])


class ValidationResult(BaseModel):
    valid: bool
    errors: list[str] = Field(description="What makes the grid unrunnable, by node or edge.")
    warnings: list[str] = Field(description="What runs but is probably not meant.")


@tool(risk=Risk.LOW, examples=("check whether this grid is valid", "why won't my grid run?"))
async def validate_grid(ctx: ToolContext, args: GraphSource) -> ValidationResult:
    """Check a saved grid (grid_id) or a graph before saving it (graph): one trigger, known
    node types with complete configs, expressions that parse, tools that exist, edges between
    existing nodes, cycles only through loop nodes. Lists every problem, naming the node."""
    if args.grid_id is not None:
        _, spec = await runs.load_spec(ctx.session, ctx.scope, args.grid_id)
    else:
        assert args.graph is not None
        spec = spec_from_rows(node_rows(args.graph.nodes), edge_rows(args.graph.edges))
    report = validate(spec, default_registry())
    return ValidationResult(valid=report.valid, errors=[str(i) for i in report.errors],
                            warnings=[str(i) for i in report.warnings])


# -- building -----------------------------------------------------------------------------------


class CreateGridArgs(Frozen):
    name: str = Field(min_length=1, max_length=200, description="The grid's name.")
    description: str | None = Field(default=None, max_length=2000, description="What it is for.")
    graph: GraphIn | None = Field(default=None, description="Its nodes and edges.")
    template: str | None = Field(default=None, max_length=100, description=(
        "Start from this template instead (slug or id, from list_grid_templates)."))
    settings: SettingsIn | None = Field(default=None, description="Run limits.")

    @model_validator(mode="after")
    def _one_source(self) -> CreateGridArgs:
        if (self.graph is None) == (self.template is None):
            raise ValueError("give either graph (nodes and edges) or template")
        return self


async def _template(ctx: ToolContext, ref: str) -> GridTemplate:
    catalogue = GridTemplateCatalogue(ctx.session)
    try:
        found: GridTemplate | None = await catalogue.get(uuid.UUID(ref))
    except ValueError:
        found = await catalogue.by_slug(ref)
    if found is None or not found.is_published:
        raise InvalidArgument(f"no grid template {ref!r}; list_grid_templates gives slugs")
    return found


@tool(risk=Risk.MEDIUM, title="Create grid {name}", examples=(
    "make a grid that emails me when a big deal is won",
    "create a workflow from the lead enrichment template",
))
async def create_grid(ctx: ToolContext, args: CreateGridArgs) -> GridDetail:
    """Create a draft grid from nodes and edges (exactly one trigger; see each node type's
    config keys) or from a template. The grid is checked first and refused, with every
    problem named, when it could not run. Run it with run_grid; publish it with publish_grid."""
    earlier = await replayed(ctx, "create", "grid")
    if earlier is not None:
        return await _detail(ctx, earlier)
    if args.template is not None:
        nodes, edges = template_rows(await _template(ctx, args.template))
        settings = _settings({}, args.settings)
    else:
        assert args.graph is not None
        nodes, edges = node_rows(args.graph.nodes), edge_rows(args.graph.edges)
        settings = _settings({}, args.settings)
    spec, report = _checked(nodes, edges, settings)
    grid: GalaxyGrid = await GridRepository(ctx.session, ctx.scope).create(
        name=args.name, description=args.description, created_by=ctx.caller.user_id,
        settings=settings)
    graph = await _save_graph(ctx, grid.id, nodes, edges, spec)
    await record_change(ctx, "create", "grid", grid.id,
                        after=snapshot(graph.grid, GRID_FIELDS) | _graph_summary(graph))
    return GridDetail.of(graph, [str(w) for w in report.warnings])


class UpdateGridArgs(Frozen):
    grid_id: uuid.UUID = Field(description="The grid to change.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New name.")
    description: str | None = Field(default=None, max_length=2000, description="New text.")
    graph: GraphIn | None = Field(default=None, description=(
        "The whole new graph (replaces every node and edge); omit to keep the graph."))
    settings: SettingsIn | None = Field(default=None, description="Run limits to change.")


@tool(risk=Risk.MEDIUM, title="Update grid {grid_id}", examples=(
    "rename the digest grid to Monday digest", "add a delay of one hour before the email",
))
async def update_grid(ctx: ToolContext, args: UpdateGridArgs) -> GridDetail:
    """Change a grid's name, description, run limits or whole graph (a new graph is checked
    like create_grid's and replaces all nodes and edges). Runs already under way keep the graph
    they started with. An archived grid cannot change."""
    repo = GridRepository(ctx.session, ctx.scope)
    graph = await repo.load_graph(args.grid_id)
    if graph.grid.status == GridStatus.ARCHIVED:
        raise Conflict(f"grid {graph.grid.name!r} is archived")
    before = snapshot(graph.grid, GRID_FIELDS) | _graph_summary(graph)
    settings = _settings(dict(graph.grid.settings or {}), args.settings)
    report = Report()
    if args.graph is not None:
        nodes, edges = node_rows(args.graph.nodes), edge_rows(args.graph.edges)
        spec, report = _checked(nodes, edges, settings)
        await _save_graph(ctx, args.grid_id, nodes, edges, spec)
    changes = {k: v for k, v in (("name", args.name), ("description", args.description))
               if v is not None}
    await repo.update(args.grid_id, settings=settings, **changes)
    graph = await repo.load_graph(args.grid_id)
    await record_change(ctx, "update", "grid", args.grid_id, before=before,
                        after=snapshot(graph.grid, GRID_FIELDS) | _graph_summary(graph))
    return GridDetail.of(graph, [str(w) for w in report.warnings])


@tool(risk=Risk.MEDIUM, title="Publish grid {grid_id}", examples=(
    "publish the lead enrichment grid", "make this workflow live",
))
async def publish_grid(ctx: ToolContext, args: GridIdArgs) -> GridDetail:
    """Publish a grid after checking it (each republish is a new version). Refused, with the
    problems named, when the grid could not run."""
    repo = GridRepository(ctx.session, ctx.scope)
    graph, spec = await runs.load_spec(ctx.session, ctx.scope, args.grid_id)
    report = validate(spec, default_registry())
    if not report.valid:
        raise InvalidArgument(f"grid {graph.grid.name!r} cannot be published: "
                              f"{report.summary()}")
    before = snapshot(graph.grid, GRID_FIELDS)
    grid = await repo.publish(args.grid_id)
    await record_change(ctx, "publish", "grid", grid.id, before=before,
                        after=snapshot(grid, GRID_FIELDS))
    return await _detail(ctx, grid.id, [str(w) for w in report.warnings])


@tool(risk=Risk.MEDIUM, title="Archive grid {grid_id}", examples=(
    "archive the old digest grid", "retire this workflow",
))
async def archive_grid(ctx: ToolContext, args: GridIdArgs) -> GridDetail:
    """Archive a grid: it can no longer run or change; its past runs stay readable."""
    repo = GridRepository(ctx.session, ctx.scope)
    before = snapshot(await repo.get(args.grid_id), GRID_FIELDS)
    grid = await repo.archive(args.grid_id)
    await record_change(ctx, "archive", "grid", grid.id, before=before,
                        after=snapshot(grid, GRID_FIELDS))
    return await _detail(ctx, grid.id)


# -- running ------------------------------------------------------------------------------------


class RunGridArgs(Frozen):
    grid_id: uuid.UUID = Field(description="The grid to run.")
    input: dict[str, Any] = Field(default_factory=dict, description=(
        "The run's input, what the trigger passes on, e.g. {\"deal\": {\"value\": 12000}}."))


class ExecutionResult(BaseModel):
    execution: ExecutionOut


@tool(risk=Risk.MEDIUM, title="Run grid {grid_id}", examples=(
    "run the lead enrichment grid for Ada", "start the digest workflow now",
))
async def run_grid(ctx: ToolContext, args: RunGridArgs) -> ExecutionResult:
    """Start a run of a grid with an input. The run is queued and the worker carries it out
    in the background, acting as you; its actions follow the same approval rules as your own
    requests. Returns the execution id at once: follow it with get_grid_execution."""
    executions = GridExecutionRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "grid_execution")
    if earlier is not None:
        return ExecutionResult(execution=ExecutionOut.of(await executions.get(earlier)))
    run, _ = await runs.queue_run(ctx.session, ctx.scope, args.grid_id, run_input=args.input,
                                  triggered_by=ctx.caller.user_id, registry=default_registry())
    await record_change(ctx, "create", "grid_execution", run.id,
                        after=snapshot(run, RUN_FIELDS))
    await nudge(ctx, runs.RUN_KIND, run.id)
    return ExecutionResult(execution=ExecutionOut.of(run))


class ExecutionArgs(Frozen):
    execution_id: uuid.UUID = Field(description="The run, from run_grid or list_grid_executions.")


class ExecutionDetail(BaseModel):
    execution: ExecutionOut
    steps: list[StepOut] = Field(description="Node runs in order (the last 100).")


@tool(risk=Risk.LOW, examples=("how did the grid run go?", "why did the last run fail?"))
async def get_grid_execution(ctx: ToolContext, args: ExecutionArgs) -> ExecutionDetail:
    """Get one grid run: status, what it waits for, result or error, and each node's step
    (input, output with log lines, error, duration; skipped nodes are the untaken branches)."""
    run = await GridExecutionRepository(ctx.session, ctx.scope).get(args.execution_id)
    steps = await ExecutionStepRepository(ctx.session, ctx.scope).for_execution(run.id)
    return ExecutionDetail(execution=ExecutionOut.of(run),
                           steps=[StepOut.of(s) for s in steps[-MAX_STEPS_SHOWN:]])


class ListExecutionsArgs(Frozen):
    grid_id: uuid.UUID = Field(description="The grid whose runs to list.")
    status: GridRunStatus | None = Field(default=None, description="Only runs in this status.")
    limit: int = Field(default=10, ge=1, le=50, description="Runs per page, newest first.")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class ExecutionList(BaseModel):
    executions: list[ExecutionOut]
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=("show the last runs of the digest grid", "failed runs this week"))
async def list_grid_executions(ctx: ToolContext, args: ListExecutionsArgs) -> ExecutionList:
    """List a grid's runs, newest first."""
    await GridRepository(ctx.session, ctx.scope).get(args.grid_id)
    page = await GridExecutionRepository(ctx.session, ctx.scope).for_grid(
        args.grid_id, status=args.status, limit=args.limit, cursor=args.cursor)
    return ExecutionList(executions=[ExecutionOut.of(r) for r in page.items],
                         has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


@tool(risk=Risk.MEDIUM, title="Cancel grid run {execution_id}", examples=(
    "stop that grid run", "cancel the run waiting for approval",
))
async def cancel_grid_execution(ctx: ToolContext, args: ExecutionArgs) -> ExecutionResult:
    """Cancel a grid run that has not ended. A queued, waiting or paused run stops now (an
    approval it waits for can no longer be given); a running one stops before its next node.
    What its finished nodes did stays done."""
    executions = GridExecutionRepository(ctx.session, ctx.scope)
    before = snapshot(await executions.get(args.execution_id), RUN_FIELDS)
    run = await runs.cancel(ctx.session, ctx.scope, args.execution_id, ctx.caller.user_id)
    await record_change(ctx, "cancel", "grid_execution", run.id, before=before,
                        after=snapshot(run, RUN_FIELDS))
    return ExecutionResult(execution=ExecutionOut.of(run))
