"""The node types that only compute: trigger, transform, condition, branch, filter, aggregate,
merge. Each takes the node's input and returns its output (plus log lines for the step record);
none touches the database or the network, so the engine runs them inside the step's
transaction. A problem the grid's author must fix raises `NodeError` (or `ExpressionError`),
which fails the node with that message.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from store.models.grids import NodeType
from tools.grids import expressions as ex
from tools.grids.specs import (
    AggregateConfig,
    ConditionConfig,
    FilterConfig,
    MergeConfig,
    Metric,
    NodeSpec,
    TransformConfig,
)


class NodeError(Exception):
    """A node could not do its work; the message is recorded on the step and the run."""


@dataclass(frozen=True)
class NodeCall:
    """One node about to run: its spec and parsed config, its input, the expression
    environment, and the outputs of its active predecessors by node id."""

    node: NodeSpec
    config: Any
    input: Any
    env: ex.Env
    sources: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Produced:
    output: Any
    logs: list[str] = field(default_factory=list)
    decision: bool | None = None


def trigger(call: NodeCall) -> Produced:
    return Produced(call.input, ["run input received"])


def transform(call: NodeCall) -> Produced:
    config: TransformConfig = call.config
    if config.expression is not None:
        value = ex.evaluate(config.expression, call.env)
        built: Any = {config.output: value} if config.output else value
    else:
        mapping = config.mapping or {}
        built = {key: ex.evaluate(source, call.env) for key, source in mapping.items()}
    if config.keep_input:
        if not isinstance(call.input, Mapping) or not isinstance(built, Mapping):
            raise NodeError("keep_input needs an object input and an object result")
        built = {**call.input, **built}
    return Produced(built)


def condition(call: NodeCall) -> Produced:
    config: ConditionConfig = call.config
    if config.expression is not None:
        result = ex.truthy(ex.evaluate(config.expression, call.env))
        shown = config.expression
    else:
        left = ex.evaluate(config.field or "null", call.env)
        result = ex.compare(config.operator, left, config.value)
        shown = f"{config.field} {config.operator} {config.value!r} (value was {left!r})"
    return Produced(call.input, [f"{shown} -> {'true' if result else 'false'}"], result)


def branch(call: NodeCall) -> Produced:
    return Produced(call.input, [f"routing by edge conditions ({call.config.mode} match)"])


def _items(source: str | None, call: NodeCall) -> list[Any]:
    """The list a filter or aggregate works on: its `items` expression, else the input list,
    else the input's `items` (what a filter outputs)."""
    value = ex.evaluate(source, call.env) if source else call.input
    if source is None and isinstance(value, Mapping) and isinstance(value.get("items"), list):
        value = value["items"]
    if not isinstance(value, list):
        raise NodeError(f"needs a list to work on, got {ex.kind_of(value)}; set `items`")
    return value


def filter_items(call: NodeCall) -> Produced:
    config: FilterConfig = call.config
    items = _items(config.items, call)
    kept = [item for i, item in enumerate(items)
            if ex.truthy(ex.evaluate(config.where, call.env.with_item(item, i)))]
    if config.limit is not None:
        kept = kept[:config.limit]
    return Produced({"items": kept, "count": len(kept), "total": len(items)},
                    [f"kept {len(kept)} of {len(items)}"])


def aggregate(call: NodeCall) -> Produced:
    config: AggregateConfig = call.config
    items = _items(config.items, call)
    if config.group_by is None:
        return Produced(_measure(config.metrics, items, call), [f"{len(items)} items"])
    groups: dict[str, list[tuple[int, Any]]] = {}
    keys: dict[str, Any] = {}
    for i, item in enumerate(items):
        key = ex.evaluate(config.group_by, call.env.with_item(item, i))
        groups.setdefault(repr(key), []).append((i, item))
        keys.setdefault(repr(key), key)
    rows = [{"key": keys[k], **_measure(config.metrics, [it for _, it in members], call)}
            for k, members in groups.items()]
    return Produced({"groups": rows, "count": len(rows)},
                    [f"{len(items)} items in {len(rows)} groups"])


def _measure(metrics: Mapping[str, Metric], items: list[Any], call: NodeCall) -> dict[str, Any]:
    return {name: _metric(metric, items, call) for name, metric in metrics.items()}


def _metric(metric: Metric, items: list[Any], call: NodeCall) -> Any:
    if metric.op == "count":
        return len(items)
    values = [ex.evaluate(metric.value or "null", call.env.with_item(item, i))
              for i, item in enumerate(items)]
    if metric.op == "list":
        return values
    if metric.op in ("first", "last"):
        return (values[0] if metric.op == "first" else values[-1]) if values else None
    return ex.FUNCTIONS[metric.op](values)


def merge(call: NodeCall) -> Produced:
    config: MergeConfig = call.config
    sources = dict(call.sources)
    if config.mode == "by_node":
        return Produced(sources, [f"merged {len(sources)} inputs by node"])
    if config.mode == "list":
        return Produced(list(sources.values()), [f"listed {len(sources)} inputs"])
    merged: dict[str, Any] = {}
    for node_id, value in sources.items():
        if not isinstance(value, Mapping):
            raise NodeError(f"cannot merge {ex.kind_of(value)} from {node_id!r} into an object; "
                            "use mode `list` or `by_node`")
        merged.update(value)
    return Produced(merged, [f"merged {len(sources)} objects"])


PURE: dict[NodeType, Callable[[NodeCall], Produced]] = {
    NodeType.TRIGGER: trigger, NodeType.TRANSFORM: transform, NodeType.CONDITION: condition,
    NodeType.BRANCH: branch, NodeType.FILTER: filter_items, NodeType.AGGREGATE: aggregate,
    NodeType.MERGE: merge,
}
