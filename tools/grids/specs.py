"""What a grid is made of, as the engine reads it: node and edge specs and each node type's config.

A run works on a snapshot of these specs taken when it was queued (stored in the execution's
`context`), so editing a grid never changes a run that is already under way, and a run resumed
in another process sees exactly the graph it started with.

Each runnable node type has a frozen pydantic model for its `config`; validation parses every
node's config with it, so a missing or misspelt key is reported against the node before a run
starts. `database`, `integration` and `custom` exist in the schema but have no engine behind
them yet: validation refuses them rather than letting a run skip them silently.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, model_validator

from store.models.grids import EdgeType, NodeType
from store.models.neptune import OutboundChannel
from store.repositories.grids import GridGraph

LOOP_HARD_CAP = 100
STEP_LIMIT_DEFAULT = 200
STEP_LIMIT_CAP = 1000
MAX_DELAY_SECONDS = 30 * 24 * 3600
MAX_HTTP_TIMEOUT = 30.0
NODE_ID = r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$"
# Edge conditions that are keywords rather than expressions.
WHEN_TRUE = frozenset({"true", "yes"})
WHEN_FALSE = frozenset({"false", "no"})
OTHERWISE = frozenset({"else", "otherwise", "default"})


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class NodeSpec(Frozen):
    id: str = Field(pattern=NODE_ID)
    type: NodeType
    label: str = ""
    config: dict[str, Any] = Field(default_factory=dict)
    enabled: bool = True


class EdgeSpec(Frozen):
    id: str
    source: str
    target: str
    type: EdgeType = EdgeType.DEFAULT
    condition: str | None = None
    label: str | None = None
    enabled: bool = True


class RunSettings(Frozen):
    """The grid settings the engine reads (`galaxy_grids.settings`; other keys are ignored)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    max_steps: int = Field(default=STEP_LIMIT_DEFAULT, ge=1, le=STEP_LIMIT_CAP)
    approval_ttl_hours: float = Field(default=24.0, gt=0, le=24 * 30)


class GraphSpec(Frozen):
    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    settings: RunSettings = Field(default_factory=RunSettings)


def spec_of(graph: GridGraph) -> GraphSpec:
    """A stored grid as the engine reads it (nodes in their builder order); a stored row
    that does not fit (say, a node id with spaces) raises `ValidationError`."""
    nodes = [{"node_id": n.node_id, "type": n.type, "label": n.label, "config": n.config,
              "is_enabled": n.is_enabled} for n in graph.nodes]
    edges = [{"edge_id": e.edge_id, "source_node_id": e.source_node_id,
              "target_node_id": e.target_node_id, "type": e.type, "label": e.label,
              "config": e.config, "is_enabled": e.is_enabled} for e in graph.edges]
    return spec_from_rows(nodes, edges, graph.grid.settings)


def spec_from_rows(nodes: Sequence[Mapping[str, Any]], edges: Sequence[Mapping[str, Any]],
                   settings: Mapping[str, Any] | None = None) -> GraphSpec:
    """Rows in the stored shape (`grid_nodes`/`grid_edges` values, or a template's) as a spec;
    `ValidationError` when they do not fit. Unknown settings keys are ignored; a known one
    with a bad value falls back to its default."""
    try:
        run_settings = RunSettings.model_validate(settings or {})
    except ValidationError:
        run_settings = RunSettings()
    return GraphSpec(
        nodes=tuple(NodeSpec.model_validate({
            "id": n.get("node_id"), "type": n.get("type"), "label": n.get("label") or "",
            "config": dict(n.get("config") or {}), "enabled": n.get("is_enabled", True),
        }) for n in nodes),
        edges=tuple(EdgeSpec.model_validate({
            "id": e.get("edge_id"), "source": e.get("source_node_id"),
            "target": e.get("target_node_id"), "type": e.get("type") or EdgeType.DEFAULT,
            "condition": (e.get("config") or {}).get("condition"), "label": e.get("label"),
            "enabled": e.get("is_enabled", True),
        }) for e in edges),
        settings=run_settings,
    )


# -- node configs ------------------------------------------------------------------------------


class TriggerConfig(Frozen):
    """The run's input enters here. `event`/`cron` say what starts the grid (informational for
    now: runs are started by `run_grid`)."""

    event: str | None = None
    cron: str | None = None


class ActionConfig(Frozen):
    """Call a registered tool with arguments; string values may hold `{{ expressions }}`."""

    tool: str = Field(min_length=1, validation_alias=AliasChoices("tool", "action"))
    arguments: dict[str, Any] = Field(
        default_factory=dict, validation_alias=AliasChoices("arguments", "inputs")
    )


ConditionOperator = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains",
                            "exists"]


class ConditionConfig(Frozen):
    """A yes/no test: an `expression`, or `field` `operator` `value`. Outgoing conditional edges
    say `true`/`yes` or `false`/`no`; the node passes its input through."""

    expression: str | None = None
    field: str | None = None
    operator: ConditionOperator = "=="
    value: Any = None

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.expression is None) == (self.field is None):
            raise ValueError("give either `expression` or `field` (with operator and value)")
        return self


class BranchConfig(Frozen):
    """Route by the conditions on outgoing edges: `first` takes the first edge (by edge id)
    whose condition holds, `all` takes every one; an `else` edge is taken when none holds."""

    mode: Literal["first", "all"] = "first"


class LoopConfig(Frozen):
    """Run the loop's body (the nodes between it and the edge back into it) once per element of
    `items`, or while `while` holds; never more than `max_iterations` times."""

    items: str | None = None
    while_: str | None = Field(default=None, alias="while")
    max_iterations: int = Field(default=10, ge=1, le=LOOP_HARD_CAP)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.items is None) == (self.while_ is None):
            raise ValueError("give either `items` (a list expression) or `while` (a condition)")
        return self


class AiConfig(Frozen):
    prompt: str = Field(min_length=1, max_length=8000)
    system: str | None = Field(default=None, max_length=8000)
    model: str | None = Field(default=None, max_length=100)
    parse_json: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=8000)


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class HttpConfig(Frozen):
    url: str = Field(min_length=1, max_length=2000)
    method: HttpMethod | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    query: dict[str, Any] = Field(default_factory=dict)
    body: Any = None
    timeout_seconds: float = Field(default=10.0, gt=0, le=MAX_HTTP_TIMEOUT)
    fail_on_status: bool = True


class DelayConfig(Frozen):
    """Wait, then continue; the run is stored as `waiting` and the worker resumes it."""

    seconds: int = Field(default=0, ge=0)
    minutes: int = Field(default=0, ge=0)
    hours: int = Field(default=0, ge=0)
    days: int = Field(default=0, ge=0)
    until: str | None = Field(default=None, description="An ISO datetime, may be a template.")

    @property
    def total_seconds(self) -> int:
        return self.seconds + 60 * self.minutes + 3600 * self.hours + 86400 * self.days

    @model_validator(mode="after")
    def _bounded(self) -> Self:
        if self.until is None and not 0 < self.total_seconds <= MAX_DELAY_SECONDS:
            raise ValueError("a delay needs `until`, or a duration between 1 second and 30 days")
        if self.until is not None and self.total_seconds:
            raise ValueError("give either `until` or a duration, not both")
        return self


class TransformConfig(Frozen):
    """Build the output: `mapping` (key -> expression) or one `expression` (under `output`
    when given). `keep_input` starts from the input object and adds the mapping to it."""

    mapping: dict[str, str] | None = None
    expression: str | None = None
    output: str | None = None
    keep_input: bool = False

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if (self.mapping is None) == (self.expression is None):
            raise ValueError("give either `mapping` or `expression`")
        return self


class FilterConfig(Frozen):
    """Keep the elements of `items` (default: the input list, or the input's `items`) for
    which `where` holds; inside `where`, `item` is the element and bare names are its keys."""

    items: str | None = None
    where: str
    limit: int | None = Field(default=None, ge=1, le=10_000)


class Metric(Frozen):
    op: Literal["count", "sum", "avg", "min", "max", "list", "first", "last"]
    value: str | None = None

    @model_validator(mode="after")
    def _needs_value(self) -> Self:
        if self.op != "count" and self.value is None:
            raise ValueError(f"the {self.op} metric needs a `value` expression")
        return self


class AggregateConfig(Frozen):
    items: str | None = None
    group_by: str | None = None
    metrics: dict[str, Metric] = Field(min_length=1)


class MergeConfig(Frozen):
    """Combine the outputs of the incoming branches: `object` merges objects (later wins),
    `list` lists them, `by_node` keys them by node id."""

    mode: Literal["object", "list", "by_node"] = "object"


class EmailConfig(Frozen):
    to: str = Field(min_length=1, max_length=500)
    subject: str | None = Field(default=None, max_length=500)
    body: str | None = Field(default=None, max_length=20_000)


class NotificationConfig(Frozen):
    channel: OutboundChannel = OutboundChannel.SMS
    to: str = Field(min_length=1, max_length=500)
    message: str | None = Field(default=None, max_length=5000)
    subject: str | None = Field(default=None, max_length=500)


CONFIGS: dict[NodeType, type[Frozen]] = {
    NodeType.TRIGGER: TriggerConfig, NodeType.ACTION: ActionConfig,
    NodeType.CONDITION: ConditionConfig, NodeType.BRANCH: BranchConfig,
    NodeType.LOOP: LoopConfig, NodeType.AI: AiConfig, NodeType.WEBHOOK: HttpConfig,
    NodeType.API: HttpConfig, NodeType.DELAY: DelayConfig, NodeType.TRANSFORM: TransformConfig,
    NodeType.FILTER: FilterConfig, NodeType.AGGREGATE: AggregateConfig,
    NodeType.MERGE: MergeConfig, NodeType.EMAIL: EmailConfig,
    NodeType.NOTIFICATION: NotificationConfig,
}
UNSUPPORTED = frozenset(NodeType) - frozenset(CONFIGS)


def config_of(node: NodeSpec) -> Any:
    """The node's parsed config (validation has already proved it parses)."""
    return CONFIGS[node.type].model_validate(node.config)
