"""Arguments and results of the grid tools, and the conversions between a tool's nodes and
edges, the stored rows, and the engine's specs."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.models.grids import (
    EdgeType,
    ExecutionStep,
    GalaxyGrid,
    GridExecution,
    GridRunStatus,
    GridStatus,
    GridTemplate,
    NodeType,
    StepStatus,
)
from store.repositories.grids import GridGraph
from tools.grids.graph import Graph
from tools.grids.specs import LOOP_HARD_CAP, NODE_ID, STEP_LIMIT_CAP, GraphSpec
from tools.grids.state import RunState

MAX_NODES = 100
MAX_EDGES = 300
PREVIEW_CHARS = 2000
CONFIG_HELP = (
    "The node's settings; keys by type (strings marked T may hold {{ expressions }}): "
    "trigger {event?, cron?}; action {tool, arguments (T)}; condition {expression} or "
    "{field, operator, value}; branch {mode: first|all}; loop {items (a list expression) or "
    f"while, max_iterations <= {LOOP_HARD_CAP}}}; transform {{mapping: {{key: expression}}}} or "
    "{expression, output?}; filter {where, items?}; aggregate {metrics: {name: {op: "
    "count|sum|avg|min|max|list|first|last, value?}}, group_by?, items?}; merge {mode: "
    "object|list|by_node}; delay {seconds|minutes|hours|days or until (T)}; ai {prompt (T), "
    "system?, model?, parse_json?}; webhook/api {url (T), method?, headers?, query?, body?, "
    "timeout_seconds?}; email {to, subject?, body? (T)}; notification {channel: "
    "sms|whatsapp|email, to, message? (T)}."
)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NodeIn(Frozen):
    id: str = Field(pattern=NODE_ID, description="Your id for the node, unique in the grid, "
                    "e.g. 'score'; edges and expressions use it.")
    type: NodeType = Field(description="What the node does.")
    label: str | None = Field(default=None, max_length=200, description="Its name on the canvas.")
    config: dict[str, Any] = Field(default_factory=dict, description=CONFIG_HELP)
    enabled: bool = Field(default=True, description="A disabled node and its edges are ignored.")


class EdgeIn(Frozen):
    source: str = Field(max_length=64, description="Id of the node the edge leaves.")
    target: str = Field(max_length=64, description="Id of the node the edge enters.")
    id: str | None = Field(default=None, max_length=64,
                           description="Edge id (default e1, e2, ... in order).")
    type: EdgeType = Field(default=EdgeType.DEFAULT, description=(
        "default; conditional (taken when `condition` holds); error (taken when the source "
        "fails); loop (back into a loop node, to repeat its body)."))
    condition: str | None = Field(default=None, max_length=2000, description=(
        "For conditional edges: an expression on the source's output (as `input`), true/false "
        "after a condition node, or else (taken when no sibling condition holds)."))
    label: str | None = Field(default=None, max_length=200, description="Text on the canvas.")


class SettingsIn(Frozen):
    max_steps: int | None = Field(default=None, ge=1, le=STEP_LIMIT_CAP,
                                  description="Most node runs in one execution (default 200).")
    approval_ttl_hours: float | None = Field(
        default=None, gt=0, le=720, description="How long an action's approval may wait (24).")


class GraphIn(Frozen):
    nodes: list[NodeIn] = Field(min_length=1, max_length=MAX_NODES,
                                description="All the nodes; exactly one trigger.")
    edges: list[EdgeIn] = Field(default_factory=list, max_length=MAX_EDGES,
                                description="How the nodes connect.")


# -- conversions -------------------------------------------------------------------------------


def node_rows(nodes: Sequence[NodeIn]) -> list[dict[str, Any]]:
    """Nodes as `grid_nodes` values, laid out left to right in the order given."""
    return [{"node_id": n.id, "type": n.type, "label": n.label or n.id, "config": n.config,
             "is_enabled": n.enabled, "execution_order": i,
             "position": {"x": 80 + 220 * i, "y": 120}, "dimensions": {"width": 180, "height": 64}}
            for i, n in enumerate(nodes)]


def edge_rows(edges: Sequence[EdgeIn]) -> list[dict[str, Any]]:
    return [{"edge_id": e.id or f"e{i}", "source_node_id": e.source,
             "target_node_id": e.target, "type": e.type, "label": e.label,
             "config": {"condition": e.condition} if e.condition else {}}
            for i, e in enumerate(edges, start=1)]


def normalized(edges: Sequence[Mapping[str, Any]], spec: GraphSpec) -> list[dict[str, Any]]:
    """Edge rows with their type made explicit: an edge back into a loop node is `loop`, an
    edge with a condition is `conditional` (what the store's own graph checks expect)."""
    back = {e.id for e in Graph(spec).back_edges}
    rows = []
    for edge in edges:
        row = dict(edge)
        if row["edge_id"] in back:
            row["type"] = EdgeType.LOOP
        elif (row.get("config") or {}).get("condition") and row.get("type") in (
                None, EdgeType.DEFAULT):
            row["type"] = EdgeType.CONDITIONAL
        rows.append(row)
    return rows


def template_rows(template: GridTemplate) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A template's nodes and edges as rows for a new grid (keeping the template's order)."""
    keep_node = ("node_id", "type", "label", "config", "position", "dimensions",
                 "execution_order", "is_enabled", "description")
    keep_edge = ("edge_id", "source_node_id", "target_node_id", "type", "label", "config",
                 "is_enabled")
    nodes = [{"execution_order": i, **{k: v for k, v in n.items() if k in keep_node}}
             for i, n in enumerate(template.nodes)]
    return nodes, [{k: v for k, v in e.items() if k in keep_edge} for e in template.edges]


# -- outputs -----------------------------------------------------------------------------------


def preview(value: Any) -> Any:
    """A JSON value as it is, or a cut text of it when it is long (keeps results small)."""
    text = json.dumps(value, default=str)
    return value if len(text) <= PREVIEW_CHARS else {"preview": text[:PREVIEW_CHARS],
                                                      "truncated": True}


class GridOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: GridStatus
    version: int
    execution_count: int
    success_rate: float | None = Field(description="Percent of finished runs that completed.")
    last_executed_at: datetime | None
    published_at: datetime | None

    @classmethod
    def of(cls, grid: GalaxyGrid) -> GridOut:
        return cls(id=grid.id, name=grid.name, description=grid.description,
                   status=grid.status, version=grid.version,
                   execution_count=grid.execution_count, success_rate=grid.success_rate,
                   last_executed_at=grid.last_executed_at, published_at=grid.published_at)


class NodeOut(BaseModel):
    id: str
    type: NodeType
    label: str
    config: dict[str, Any]
    enabled: bool


class EdgeOut(BaseModel):
    id: str
    source: str
    target: str
    type: EdgeType
    condition: str | None
    label: str | None


class GridDetail(BaseModel):
    grid: GridOut
    nodes: list[NodeOut]
    edges: list[EdgeOut]
    settings: dict[str, Any]
    warnings: list[str] = Field(default_factory=list,
                                description="Things that run but are probably not meant.")

    @classmethod
    def of(cls, graph: GridGraph, warnings: Sequence[str] = ()) -> GridDetail:
        return cls(
            grid=GridOut.of(graph.grid),
            nodes=[NodeOut(id=n.node_id, type=n.type, label=n.label, config=dict(n.config),
                           enabled=n.is_enabled) for n in graph.nodes],
            edges=[EdgeOut(id=e.edge_id, source=e.source_node_id, target=e.target_node_id,
                           type=e.type, condition=(e.config or {}).get("condition"),
                           label=e.label) for e in graph.edges],
            settings=dict(graph.grid.settings or {}), warnings=list(warnings),
        )


class ExecutionOut(BaseModel):
    id: uuid.UUID
    grid_id: uuid.UUID
    status: GridRunStatus
    waiting_for: str | None = Field(description="What a waiting or paused run waits for.")
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_ms: int | None
    resume_at: datetime | None
    nodes_executed: int
    nodes_succeeded: int
    nodes_failed: int
    result: Any
    error: Any

    @classmethod
    def of(cls, run: GridExecution) -> ExecutionOut:
        return cls(
            id=run.id, grid_id=run.grid_id, status=run.status, waiting_for=_waiting_for(run),
            created_at=run.created_at, started_at=run.started_at,
            completed_at=run.completed_at, duration_ms=run.duration_ms,
            resume_at=run.resume_at, nodes_executed=run.nodes_executed,
            nodes_succeeded=run.nodes_succeeded, nodes_failed=run.nodes_failed,
            result=preview(run.result), error=run.error,
        )


def _waiting_for(run: GridExecution) -> str | None:
    if run.status not in (GridRunStatus.WAITING, GridRunStatus.PAUSED) or not run.context:
        return None
    waiting = RunState.model_validate(run.context).waiting
    if waiting is None:
        return "the worker to resume it"
    if waiting.kind == "approval":
        return f"approval of pending action {waiting.pending_id} (node {waiting.node})"
    return f"node {waiting.node} until {waiting.until.isoformat() if waiting.until else 'now'}"


class StepOut(BaseModel):
    sequence: int
    node_id: str
    node_type: NodeType | None
    label: str | None
    status: StepStatus
    input: Any
    output: Any
    error: Any
    duration_ms: int | None

    @classmethod
    def of(cls, step: ExecutionStep) -> StepOut:
        return cls(sequence=step.sequence, node_id=step.node_id, node_type=step.node_type,
                   label=step.node_name, status=step.status, input=preview(step.input),
                   output=preview(step.output), error=step.error, duration_ms=step.duration_ms)


class TemplateOut(BaseModel):
    id: uuid.UUID
    slug: str
    name: str
    description: str | None
    category: str | None
    node_types: list[str] = Field(description="The template's node types, in order.")
    featured: bool

    @classmethod
    def of(cls, template: GridTemplate) -> TemplateOut:
        return cls(id=template.id, slug=template.slug, name=template.name,
                   description=template.description, category=template.category,
                   node_types=[str(n.get("type")) for n in template.nodes],
                   featured=template.is_featured)


class GraphSource(Frozen):
    """Either a stored grid or a graph given inline (for checking before saving)."""

    grid_id: uuid.UUID | None = Field(default=None, description="A saved grid to check.")
    graph: GraphIn | None = Field(default=None, description="Nodes and edges to check instead.")

    @model_validator(mode="after")
    def _one(self) -> GraphSource:
        if (self.grid_id is None) == (self.graph is None):
            raise ValueError("give either grid_id or graph")
        return self
