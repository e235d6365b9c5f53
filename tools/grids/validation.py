"""Checking a grid before it is saved or run: every problem, each naming its node or edge.

Errors make a grid unrunnable (`run_grid` and `publish_grid` refuse it, `create_grid` and
`update_grid` refuse to save it); warnings point at things that run but are probably not meant
(a node nothing leads to, a loop with no way back into it).

The rules: exactly one enabled trigger, with nothing leading into it; node types the engine runs
and, for each, a config its model accepts; expressions and `{{ templates }}` that parse; an
action names a registered tool (not a grid tool: a grid must not start grids) and only that
tool's arguments; every edge joins two nodes of the grid; a cycle only through a loop node (the
edge back into it is the loop's), and no edge leaving a loop's body except through the loop
node; conditional edges carry a condition, `true`/`false` only after a condition node; a branch
has conditional edges to choose from.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from store.models.grids import EdgeType, NodeType
from tools.catalog import load_catalog
from tools.grids import expressions as ex
from tools.grids.graph import Graph
from tools.grids.specs import (
    CONFIGS,
    OTHERWISE,
    UNSUPPORTED,
    WHEN_FALSE,
    WHEN_TRUE,
    ActionConfig,
    AggregateConfig,
    ConditionConfig,
    EdgeSpec,
    FilterConfig,
    GraphSpec,
    LoopConfig,
    NodeSpec,
    TransformConfig,
)
from tools.registry import ToolRegistry


@dataclass(frozen=True)
class Issue:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Report:
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def summary(self, limit: int = 8) -> str:
        lines = [str(issue) for issue in self.errors[:limit]]
        more = len(self.errors) - limit
        return "; ".join(lines) + (f"; and {more} more" if more > 0 else "")


def default_registry() -> ToolRegistry:
    """The service's tool catalogue: what an action node may call."""
    return load_catalog()


def where_node(node: NodeSpec) -> str:
    return f"node {node.id!r} ({node.type})"


def where_edge(edge: EdgeSpec) -> str:
    return f"edge {edge.id!r} ({edge.source} -> {edge.target})"


def validate(spec: GraphSpec, registry: ToolRegistry) -> Report:
    """Every problem of the graph (see the module docstring for the rules)."""
    report = Report()
    _check_ids(spec, report)
    for node in spec.nodes:
        if node.enabled:
            _check_node(node, registry, report)
    names = {n.id for n in spec.nodes}
    for edge in spec.edges:
        for end in (edge.source, edge.target):
            if end not in names:
                report.errors.append(Issue(where_edge(edge), f"{end!r} is not a node of this grid"))
    graph = Graph(spec)
    _check_trigger(graph, report)
    _check_cycles(graph, report)
    _check_edges(graph, report)
    _check_routing(graph, report)
    _check_reach(graph, report)
    return report


def _check_ids(spec: GraphSpec, report: Report) -> None:
    for kind, ids in (("node", [n.id for n in spec.nodes]), ("edge", [e.id for e in spec.edges])):
        for value, times in Counter(ids).items():
            if times > 1:
                report.errors.append(Issue(f"{kind} {value!r}", f"the id is used {times} times"))


def _check_node(node: NodeSpec, registry: ToolRegistry, report: Report) -> None:
    where = where_node(node)
    if node.type in UNSUPPORTED:
        report.errors.append(Issue(where, f"the grid engine cannot run {node.type} nodes yet"))
        return
    try:
        config = CONFIGS[node.type].model_validate(node.config)
    except ValidationError as error:
        report.errors.append(Issue(where, f"config: {config_problems(error)}"))
        return
    for label, source, template in _expressions(config):
        try:
            ex.check_template(source) if template else ex.parse(source)
        except ex.ExpressionError as error:
            report.errors.append(Issue(where, f"{label}: {error}"))
    if isinstance(config, ActionConfig):
        _check_action(where, config, registry, report)


def config_problems(error: ValidationError, limit: int = 5) -> str:
    """`key: problem; ...` for a config that does not parse, in the builder's words."""
    parts = []
    for item in error.errors()[:limit]:
        message = str(item["msg"]).removeprefix("Value error, ")
        where = ".".join(str(p) for p in item["loc"])
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def _expressions(config: Any) -> Iterator[tuple[str, Any, bool]]:
    """(config key, source, is it a template) for every expression the config holds."""
    if isinstance(config, ConditionConfig):
        yield from (("expression", s, False) for s in (config.expression, config.field) if s)
    elif isinstance(config, LoopConfig):
        yield from (("items/while", s, False) for s in (config.items, config.while_) if s)
    elif isinstance(config, TransformConfig):
        for key, source in (config.mapping or {}).items():
            yield f"mapping.{key}", source, False
        if config.expression is not None:
            yield "expression", config.expression, False
    elif isinstance(config, FilterConfig):
        yield from (("items/where", s, False) for s in (config.items, config.where) if s)
    elif isinstance(config, AggregateConfig):
        yield from (("items/group_by", s, False) for s in (config.items, config.group_by) if s)
        for name, metric in config.metrics.items():
            if metric.value is not None:
                yield f"metrics.{name}.value", metric.value, False
    else:
        yield "config", config.model_dump(), True


def _check_action(where: str, config: ActionConfig, registry: ToolRegistry,
                  report: Report) -> None:
    tool = registry.get(config.tool)
    if tool is None:
        report.errors.append(Issue(where, f"there is no tool named {config.tool!r}"))
        return
    if tool.domain == "grids":
        report.errors.append(Issue(where, f"a grid cannot call the grid tool {tool.name}"))
        return
    known = set(tool.args_model.model_fields)
    unknown = sorted(set(config.arguments) - known)
    if unknown:
        report.errors.append(Issue(
            where, f"{tool.name} has no argument(s) {', '.join(unknown)}; "
                   f"its arguments are {', '.join(sorted(known)) or 'none'}"))


def _check_trigger(graph: Graph, report: Report) -> None:
    triggers = [n for n in graph.nodes.values() if n.type == NodeType.TRIGGER]
    if len(triggers) != 1:
        found = ", ".join(repr(t.id) for t in triggers) or "none"
        report.errors.append(Issue("grid", f"a grid needs exactly one enabled trigger node "
                                           f"(found {found})"))
    for trigger in triggers:
        if any(e.target == trigger.id for e in graph.edges):
            report.errors.append(Issue(where_node(trigger), "nothing may lead into the trigger"))


def _check_cycles(graph: Graph, report: Report) -> None:
    for edge in graph.bad_cycles:
        path = sorted(graph.reach([edge.target]) & graph.reach([edge.source], backwards=True))
        report.errors.append(Issue(
            where_edge(edge), f"closes a cycle through {', '.join(path)}; a cycle must go back "
                              "into a loop node (which bounds it)"))
    back = {id(e) for e in graph.back_edges}
    for edge in graph.edges:
        if edge.type == EdgeType.LOOP and id(edge) not in back:
            report.errors.append(Issue(
                where_edge(edge), "is marked `loop` but does not go back into a loop node "
                                  "that leads to it"))
    for loop, body in graph.bodies.items():
        if not body:
            report.warnings.append(Issue(
                where_node(graph.nodes[loop]), "no edge leads back into this loop, so it has no "
                                               "body to repeat"))


def _check_edges(graph: Graph, report: Report) -> None:
    for edge in graph.forward:
        loop = graph.leaves_body(edge)
        if loop is not None:
            report.errors.append(Issue(
                where_edge(edge), f"leaves the body of loop {loop!r} from inside; continue "
                                  f"after the loop with an edge out of {loop!r} instead"))
        _check_condition(graph, edge, report)


def _check_condition(graph: Graph, edge: EdgeSpec, report: Report) -> None:
    text = (edge.condition or "").strip()
    source = graph.nodes[edge.source]
    if edge.type == EdgeType.ERROR and text:
        report.errors.append(Issue(where_edge(edge), "an error edge takes no condition"))
    elif edge.type == EdgeType.CONDITIONAL and not text:
        report.errors.append(Issue(where_edge(edge), "a conditional edge needs a condition "
                                                     "(an expression, true/false, or else)"))
    elif text.lower() in WHEN_TRUE | WHEN_FALSE:
        if source.type != NodeType.CONDITION:
            report.errors.append(Issue(where_edge(edge), f"{text!r} only follows a condition "
                                                         "node; write an expression instead"))
    elif text and text.lower() not in OTHERWISE:
        try:
            ex.parse(text)
        except ex.ExpressionError as error:
            report.errors.append(Issue(where_edge(edge), f"condition: {error}"))


def _check_routing(graph: Graph, report: Report) -> None:
    for node in graph.nodes.values():
        routed = [e for e in graph.outgoing(node.id) if (e.condition or "").strip()]
        if node.type == NodeType.BRANCH and not routed:
            report.errors.append(Issue(where_node(node), "a branch needs outgoing edges with "
                                                         "conditions to choose from"))
        if node.type == NodeType.CONDITION and not routed:
            report.warnings.append(Issue(where_node(node), "no true/false edges follow it, so "
                                                           "its result changes nothing"))


def _check_reach(graph: Graph, report: Report) -> None:
    if graph.trigger is None:
        return
    reached = graph.reach([graph.trigger])
    for node_id in graph.order:
        if node_id not in reached:
            report.warnings.append(Issue(where_node(graph.nodes[node_id]),
                                         "nothing leads to it from the trigger, so it never runs"))
