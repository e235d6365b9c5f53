"""Grid validation: every rule, each problem naming its node or edge."""

from __future__ import annotations

from typing import Any

import pytest

from tests.grids.support import chain, edge, node
from tools.grids.graph import Graph
from tools.grids.schemas import EdgeIn, NodeIn, edge_rows, node_rows, normalized
from tools.grids.specs import GraphSpec, spec_from_rows
from tools.grids.validation import Report, default_registry, validate


def spec(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> GraphSpec:
    return spec_from_rows(node_rows([NodeIn.model_validate(n) for n in nodes]),
                          edge_rows([EdgeIn.model_validate(e) for e in edges]))


def check(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> Report:
    return validate(spec(nodes, edges), default_registry())


def errors(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> list[str]:
    return [str(i) for i in check(nodes, edges).errors]


START = node("start", "trigger")


def test_a_complete_grid_is_valid() -> None:
    nodes = [START, node("pick", "filter", where="value > 10"),
             node("sum", "aggregate", metrics={"total": {"op": "sum", "value": "value"}}),
             node("task", "action", tool="create_task", arguments={"title": "{{ input.total }}"}),
             node("mail", "email", to="ops@example.com")]
    report = check(nodes, chain("start", "pick", "sum", "task", "mail"))
    assert report.valid and report.warnings == [], report.errors


@pytest.mark.parametrize(("nodes", "edges", "expected"), [
    ([node("a", "transform", expression="1")], [],
     "grid: a grid needs exactly one enabled trigger node (found none)"),
    ([START, node("again", "trigger")], [edge("start", "again")],
     "grid: a grid needs exactly one enabled trigger node (found 'start', 'again')"),
    ([START, node("x", "transform", expression="1")], [edge("start", "x"), edge("x", "start")],
     "node 'start' (trigger): nothing may lead into the trigger"),
    ([START, node("db", "database", query="x")], chain("start", "db"),
     "node 'db' (database): the grid engine cannot run database nodes yet"),
    ([START, node("t", "transform")], chain("start", "t"),
     "node 't' (transform): config: give either `mapping` or `expression`"),
    ([START, node("ai", "ai", promt="hi")], chain("start", "ai"),
     "node 'ai' (ai): config: prompt: Field required"),
    ([START, node("w", "delay", hours=24 * 40)], chain("start", "w"),
     "node 'w' (delay): config: a delay needs `until`, or a duration"),
    ([START, node("l", "loop", items="input", max_iterations=1000)], chain("start", "l"),
     "node 'l' (loop): config: max_iterations: Input should be less than or equal to 100"),
    ([START, node("c", "condition", expression="input.x >")], chain("start", "c"),
     "node 'c' (condition): expression: expected a value at position 9"),
    ([START, node("m", "email", to="{{ input.to ", body="{{ __import__('os') }}")],
     chain("start", "m"), "node 'm' (email): config: unknown function '__import__'"),
    ([START, node("act", "action", tool="launch_rockets")], chain("start", "act"),
     "node 'act' (action): there is no tool named 'launch_rockets'"),
    ([START, node("act", "action", tool="run_grid")], chain("start", "act"),
     "node 'act' (action): a grid cannot call the grid tool run_grid"),
    ([START, node("act", "action", tool="create_task", arguments={"titel": "x"})],
     chain("start", "act"), "node 'act' (action): create_task has no argument(s) titel"),
    ([START], [edge("start", "ghost")], "edge 'e1' (start -> ghost): 'ghost' is not a node"),
    ([START, node("a", "transform", expression="1"), node("b", "transform", expression="2")],
     [*chain("start", "a", "b"), edge("b", "a")],
     "edge 'e3' (b -> a): closes a cycle through a, b; a cycle must go back into a loop node"),
    ([START, node("a", "transform", expression="1")], [edge("start", "a", type="loop")],
     "edge 'e1' (start -> a): is marked `loop` but does not go back into a loop node"),
    ([START, node("a", "transform", expression="1")], [edge("start", "a", type="conditional")],
     "edge 'e1' (start -> a): a conditional edge needs a condition"),
    ([START, node("a", "transform", expression="1")], [edge("start", "a", "yes")],
     "edge 'e1' (start -> a): 'yes' only follows a condition node"),
    ([START, node("a", "transform", expression="1")], [edge("start", "a", "input.x ==")],
     "edge 'e1' (start -> a): condition: expected a value"),
    ([START, node("a", "transform", expression="1")],
     [edge("start", "a"), edge("start", "a", type="error", condition="x")],
     "edge 'e2' (start -> a): an error edge takes no condition"),
    ([START, node("b", "branch"), node("a", "transform", expression="1")],
     chain("start", "b", "a"), "node 'b' (branch): a branch needs outgoing edges with conditions"),
    ([START, node("a", "transform", expression="1"), node("a", "transform", expression="2")],
     [edge("start", "a")], "node 'a': the id is used 2 times"),
])
def test_reports(nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                 expected: str) -> None:
    found = errors(nodes, edges)
    assert any(e.startswith(expected) for e in found), found


def test_a_loop_may_close_a_cycle_and_its_back_edge_becomes_a_loop_edge() -> None:
    nodes = [START, node("each", "loop", items="input.rows"),
             node("work", "transform", expression="item"), node("after", "transform",
                                                               expression="input.count")]
    edges = [edge("start", "each"), edge("each", "work"), edge("work", "each"),
             edge("each", "after")]
    report = check(nodes, edges)
    assert report.valid, report.errors
    graph = Graph(spec(nodes, edges))
    assert graph.bodies == {"each": frozenset({"work"})}
    assert [e["type"] for e in normalized(edge_rows([EdgeIn.model_validate(e) for e in edges]),
                                       spec(nodes, edges))] == [
        "default", "default", "loop", "default"]


def test_an_edge_may_not_leave_a_loop_body_from_inside() -> None:
    nodes = [START, node("each", "loop", items="input.rows"),
             node("work", "transform", expression="1"), node("out", "transform", expression="2")]
    edges = [edge("start", "each"), edge("each", "work"), edge("work", "each"),
             edge("work", "out")]
    assert any("leaves the body of loop 'each'" in e for e in errors(nodes, edges))


def test_warnings_for_unreachable_nodes_and_empty_loops() -> None:
    nodes = [START, node("alone", "transform", expression="1"),
             node("each", "loop", items="input"), node("c", "condition", expression="true")]
    report = check(nodes, chain("start", "each", "c"))
    assert report.valid
    assert [str(w) for w in report.warnings] == [
        "node 'each' (loop): no edge leads back into this loop, so it has no body to repeat",
        "node 'c' (condition): no true/false edges follow it, so its result changes nothing",
        "node 'alone' (transform): nothing leads to it from the trigger, so it never runs",
    ]


def test_disabled_nodes_and_their_edges_are_ignored() -> None:
    nodes = [START, {**node("off", "database"), "enabled": False},
             node("a", "transform", expression="1")]
    assert check(nodes, [edge("start", "off"), edge("off", "a"), edge("start", "a")]).valid
