"""A run's whole state, and the rules that decide which node runs next.

`RunState` is what `grid_executions.context` holds: the graph snapshot, the run's input, each
decided node's outcome and output, the loops in progress and what the run is waiting for. It
is all plain JSON, so any process can load it and continue the run.

`Planner` answers the scheduling questions over a `Graph` and a `RunState`:
- an edge is *active* when its source completed (and, for a conditional edge, its condition was
  taken), or when its source failed and it is an `error` edge;
- a node is *ready* when every forward predecessor is decided; a ready node runs when at least
  one incoming edge is active (the trigger always runs) and is *skipped* otherwise, which is how
  untaken branches and the nodes behind them end up `skipped`;
- a node's input is its one active predecessor's output, or `{node id: output}` for several;
  after a failure, an error edge carries `{"error": message, "node": id}`;
- a loop node, while iterating, activates only the edges into its body; when every body node is
  decided the iteration ends (the back edge's source output is the iteration's result) and the
  body is reset for the next one, or the loop completes with `{"results", "count",
  "truncated"}` and only its edges out of the body are active.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from store.models.grids import EdgeType, NodeType
from tools.grids import expressions as ex
from tools.grids.graph import Graph
from tools.grids.specs import (
    OTHERWISE,
    WHEN_FALSE,
    WHEN_TRUE,
    EdgeSpec,
    GraphSpec,
    LoopConfig,
    config_of,
)

Outcome = Literal["completed", "failed", "skipped"]


class Frame(BaseModel):
    """A loop in progress."""

    step_id: uuid.UUID
    index: int = 0
    items: list[Any] | None = None
    results: list[Any] = Field(default_factory=list)
    item: Any = None
    truncated: bool = False


class Waiting(BaseModel):
    """What a run that is not running waits for, or which external call is in flight."""

    node: str
    kind: Literal["delay", "approval", "call"]
    step_id: uuid.UUID
    input: Any = None
    pending_id: uuid.UUID | None = None
    until: datetime | None = None


class Failure(BaseModel):
    """Why the run must end as failed (a node failed and no error edge handles it)."""

    message: str
    node: str | None = None


class RunState(BaseModel):
    graph: GraphSpec
    input: Any = None
    done: dict[str, Outcome] = Field(default_factory=dict)
    outputs: dict[str, Any] = Field(default_factory=dict)
    errors: dict[str, str] = Field(default_factory=dict)
    taken: dict[str, list[str]] = Field(default_factory=dict)
    frames: dict[str, Frame] = Field(default_factory=dict)
    runs: dict[str, int] = Field(default_factory=dict)
    steps: int = 0
    waiting: Waiting | None = None
    failure: Failure | None = None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class LoopDone(BaseModel):
    """A loop that just completed: its step to close and its final output."""

    loop: str
    step_id: uuid.UUID
    output: dict[str, Any]


class LoopError(Exception):
    """A loop could not decide whether to go on (its `while` failed to evaluate)."""

    def __init__(self, loop: str, message: str) -> None:
        super().__init__(message)
        self.loop = loop


def is_conditional(edge: EdgeSpec) -> bool:
    return edge.type == EdgeType.CONDITIONAL or bool((edge.condition or "").strip())


class Planner:
    def __init__(self, state: RunState) -> None:
        self.state = state
        self.graph = Graph(state.graph)

    # -- edges and readiness ------------------------------------------------------------------
    def active(self, edge: EdgeSpec) -> bool:
        state, source = self.state, edge.source
        in_body = edge.target in self.graph.bodies.get(source, frozenset())
        if source in state.frames:
            return in_body and self._passes(edge)
        outcome = state.done.get(source)
        if outcome == "failed":
            return edge.type == EdgeType.ERROR
        if outcome != "completed" or edge.type == EdgeType.ERROR or in_body:
            return False
        return self._passes(edge)

    def _passes(self, edge: EdgeSpec) -> bool:
        return not is_conditional(edge) or edge.id in self.state.taken.get(edge.source, [])

    def _decided(self, edge: EdgeSpec) -> bool:
        source = edge.source
        if source in self.state.frames:
            return edge.target in self.graph.bodies.get(source, frozenset())
        return source in self.state.done

    def _open(self, node_id: str) -> bool:
        return node_id not in self.state.done and node_id not in self.state.frames

    def ready(self, node_id: str) -> bool:
        return self._open(node_id) and all(self._decided(e) for e in self.graph.incoming(node_id))

    def runs(self, node_id: str) -> bool:
        incoming = self.graph.incoming(node_id)
        if self.graph.nodes[node_id].type == NodeType.TRIGGER:
            return True
        return any(self.active(e) for e in incoming)

    def next_node(self) -> str | None:
        return next((n for n in self.graph.order if self.ready(n) and self.runs(n)), None)

    # -- skipping and loops -------------------------------------------------------------------
    def settle(self) -> tuple[list[str], list[LoopDone]]:
        """Skip every ready node with no active input and end finished loop iterations, until
        nothing changes. Returns the skipped nodes and the loops that completed."""
        skipped: list[str] = []
        finished: list[LoopDone] = []
        changed = True
        while changed:
            changed = False
            for node_id in self.graph.order:
                if self.ready(node_id) and not self.runs(node_id):
                    self.state.done[node_id] = "skipped"
                    skipped.append(node_id)
                    changed = True
            for loop in self._frames_innermost_first():
                if all(n in self.state.done for n in self.graph.bodies[loop]):
                    try:
                        done = self._end_iteration(loop)
                    except ex.ExpressionError as error:
                        raise LoopError(loop, str(error)) from error
                    if done is not None:
                        finished.append(done)
                    changed = True
                    break
        return skipped, finished

    def _frames_innermost_first(self) -> list[str]:
        return sorted(self.state.frames, key=lambda loop: len(self.graph.bodies[loop]))

    def start_loop(self, loop: str, step_id: uuid.UUID, input: Any) -> LoopDone | None:
        """Begin a loop; None while it iterates, its completion when it has nothing to do."""
        config: LoopConfig = config_of(self.graph.nodes[loop])
        frame = Frame(step_id=step_id, item=input)
        if config.items is not None:
            items = ex.evaluate(config.items, self.env(loop, input))
            if not isinstance(items, list):
                raise ex.ExpressionError(f"items must be a list, not {ex.kind_of(items)}")
            frame.items = items[:config.max_iterations]
            frame.truncated = len(items) > config.max_iterations
        self.state.frames[loop] = frame
        if self._continues(loop, config, frame):
            self._begin(loop, frame)
            return None
        return self._finish_loop(loop, frame)

    def _continues(self, loop: str, config: LoopConfig, frame: Frame) -> bool:
        if frame.items is not None:
            return frame.index < len(frame.items)
        if frame.index >= config.max_iterations:
            frame.truncated = self._while_holds(loop, config, frame)
            return False
        return self._while_holds(loop, config, frame)

    def _while_holds(self, loop: str, config: LoopConfig, frame: Frame) -> bool:
        env = self.env(loop, frame.item)
        env = ex.Env({**env.roots, "loop": self._loop_view(frame)}, env.nodes, env.scope)
        return ex.truthy(ex.evaluate(config.while_ or "false", env))

    def _begin(self, loop: str, frame: Frame) -> None:
        if frame.items is not None:
            frame.item = frame.items[frame.index]
        output = {"item": frame.item, "index": frame.index}
        self.state.taken[loop] = self.routes(loop, output)
        self.state.outputs[loop] = output

    def _end_iteration(self, loop: str) -> LoopDone | None:
        frame = self.state.frames[loop]
        frame.results.append(self._iteration_result(loop))
        frame.index += 1
        if frame.items is None:
            frame.item = frame.results[-1]
        config: LoopConfig = config_of(self.graph.nodes[loop])
        if not self._continues(loop, config, frame):
            return self._finish_loop(loop, frame)  # the last iteration's body stays visible
        for node_id in self.graph.bodies[loop]:
            for table in (self.state.done, self.state.outputs, self.state.errors,
                          self.state.taken, self.state.frames):
                table.pop(node_id, None)
        self._begin(loop, frame)
        return None

    def _iteration_result(self, loop: str) -> Any:
        ends = [e for e in self.graph.back_edges if e.target == loop]
        values = {e.source: self.state.outputs.get(e.source) for e in ends
                  if self.state.done.get(e.source) == "completed" and self._passes(e)}
        if len(values) == 1:
            return next(iter(values.values()))
        return values or None

    def _finish_loop(self, loop: str, frame: Frame) -> LoopDone:
        del self.state.frames[loop]
        output = {"results": frame.results, "count": len(frame.results),
                  "truncated": frame.truncated}
        self.complete(loop, output)
        return LoopDone(loop=loop, step_id=frame.step_id, output=output)

    # -- outcomes -----------------------------------------------------------------------------
    def complete(self, node_id: str, output: Any, decision: bool | None = None) -> list[str]:
        """Record a node's output and which of its conditional edges it takes (an edge
        condition that cannot be evaluated raises before anything is recorded)."""
        taken = self.routes(node_id, output, decision)
        self.state.done[node_id] = "completed"
        self.state.outputs[node_id] = output
        self.state.taken[node_id] = taken
        return taken

    def fail(self, node_id: str, message: str) -> bool:
        """Record a failure; True when an error edge handles it (the run goes on)."""
        self.state.frames.pop(node_id, None)
        self.state.done[node_id] = "failed"
        self.state.errors[node_id] = message
        return any(e.type == EdgeType.ERROR for e in self.graph.outgoing(node_id))

    def routes(self, node_id: str, output: Any, decision: bool | None = None) -> list[str]:
        """The ids of the node's conditional edges its output takes."""
        edges = [e for e in self.graph.outgoing(node_id)
                 if is_conditional(e) and e.type != EdgeType.ERROR]
        spec = self.graph.nodes[node_id]
        first = spec.type == NodeType.BRANCH and config_of(spec).mode == "first"
        env = ex.Env({"input": output, "trigger": self.state.input}, self._finished(), output)
        taken: list[str] = []
        for edge in edges:
            text = (edge.condition or "").strip()
            if text.lower() in OTHERWISE or (first and taken):
                continue
            if _holds(text, decision, env):
                taken.append(edge.id)
        if not taken:
            taken = [e.id for e in edges if (e.condition or "").strip().lower() in OTHERWISE]
        return taken

    def input_for(self, node_id: str) -> Any:
        if self.graph.nodes[node_id].type == NodeType.TRIGGER:
            return self.state.input
        values = {e.source: self._carried(e.source) for e in self.graph.incoming(node_id)
                  if self.active(e)}
        if len(values) == 1:
            return next(iter(values.values()))
        return values

    def _carried(self, source: str) -> Any:
        if self.state.done.get(source) == "failed":
            return {"error": self.state.errors.get(source), "node": source}
        return self.state.outputs.get(source)

    def env(self, node_id: str, input: Any) -> ex.Env:
        roots: dict[str, Any] = {"input": input, "trigger": self.state.input}
        for loop in self.graph.enclosing(node_id):
            if loop in self.state.frames:
                roots["loop"] = self._loop_view(self.state.frames[loop])
                break
        return ex.Env(roots, self._finished(), input)

    def _loop_view(self, frame: Frame) -> dict[str, Any]:
        return {"index": frame.index, "item": frame.item, "results": frame.results}

    def _finished(self) -> dict[str, Any]:
        return {n: self.state.outputs.get(n) for n, o in self.state.done.items()
                if o == "completed"} | {n: self.state.outputs.get(n) for n in self.state.frames}

    def result(self) -> dict[str, Any]:
        """What a completed run returns: the outputs of its completed end nodes."""
        ends = {n: self.state.outputs.get(n) for n in self.graph.order
                if self.state.done.get(n) == "completed" and not self.graph.outgoing(n)}
        return {"outputs": ends}


def _holds(text: str, decision: bool | None, env: ex.Env) -> bool:
    word = text.lower()
    if decision is not None and word in WHEN_TRUE:
        return decision
    if decision is not None and word in WHEN_FALSE:
        return not decision
    if not text:
        return False
    return ex.truthy(ex.evaluate(text, env))

