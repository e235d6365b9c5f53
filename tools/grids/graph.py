"""The shape questions the engine and validation ask of a grid: order, loops, reachability.

Only enabled nodes, and enabled edges between them, take part. Edges are classified by a
depth-first walk from the trigger (then from any node not yet seen): an edge back to a node
still on the walk's path closes a cycle. Such a back edge is allowed only into a `loop` node
(the edge that starts the loop's next iteration); every other edge is a forward edge, and the
forward edges form a DAG. A loop's body is the set of nodes on a cycle through it: reachable
from the loop node, and able to reach one of its back edges.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from store.models.grids import EdgeType, NodeType
from tools.grids.specs import EdgeSpec, GraphSpec, NodeSpec


@dataclass
class Graph:
    spec: GraphSpec
    nodes: dict[str, NodeSpec] = field(init=False)
    edges: list[EdgeSpec] = field(init=False)

    def __post_init__(self) -> None:
        self.nodes = {n.id: n for n in self.spec.nodes if n.enabled}
        self.edges = [e for e in self.spec.edges if e.enabled and e.source in self.nodes
                      and e.target in self.nodes]

    # -- classification -----------------------------------------------------------------------
    @cached_property
    def retreating(self) -> list[EdgeSpec]:
        """Edges that go back to a node on the current depth-first path (each closes a cycle)."""
        found: list[EdgeSpec] = []
        state: dict[str, int] = {}  # 1 on the path, 2 finished
        for root in self._roots():
            if root in state:
                continue
            state[root] = 1
            stack = [(root, iter(self.out_all(root)))]
            while stack:
                node, edges = stack[-1]
                edge = next(edges, None)
                if edge is None:
                    state[node] = 2
                    stack.pop()
                elif state.get(edge.target) == 1:
                    found.append(edge)
                elif edge.target not in state:
                    state[edge.target] = 1
                    stack.append((edge.target, iter(self.out_all(edge.target))))
        return found

    def _roots(self) -> list[str]:
        triggers = [n for n, spec in self.nodes.items() if spec.type == NodeType.TRIGGER]
        return triggers + [n for n in self.nodes if n not in triggers]

    @cached_property
    def back_edges(self) -> list[EdgeSpec]:
        """Edges that start a loop's next iteration (retreating edges into loop nodes)."""
        return [e for e in self.retreating if self.nodes[e.target].type == NodeType.LOOP]

    @cached_property
    def bad_cycles(self) -> list[EdgeSpec]:
        """Retreating edges that close a cycle without going through a loop node."""
        return [e for e in self.retreating if self.nodes[e.target].type != NodeType.LOOP]

    @cached_property
    def forward(self) -> list[EdgeSpec]:
        back = {id(e) for e in self.retreating}
        return [e for e in self.edges if id(e) not in back]

    def out_all(self, node_id: str) -> list[EdgeSpec]:
        return [e for e in self.edges if e.source == node_id]

    @cached_property
    def _out(self) -> dict[str, list[EdgeSpec]]:
        found: dict[str, list[EdgeSpec]] = {n: [] for n in self.nodes}
        for edge in sorted(self.forward, key=lambda e: e.id):
            found[edge.source].append(edge)
        return found

    @cached_property
    def _in(self) -> dict[str, list[EdgeSpec]]:
        found: dict[str, list[EdgeSpec]] = {n: [] for n in self.nodes}
        for edge in self.forward:
            found[edge.target].append(edge)
        return found

    def outgoing(self, node_id: str) -> list[EdgeSpec]:
        """Forward edges leaving the node, by edge id (the order `branch` tries them in)."""
        return self._out[node_id]

    def incoming(self, node_id: str) -> list[EdgeSpec]:
        return self._in[node_id]

    # -- order and reach ----------------------------------------------------------------------
    @cached_property
    def order(self) -> list[str]:
        """Nodes in a topological order of the forward edges; ties keep the grid's order."""
        waiting = {n: 0 for n in self.nodes}
        for edge in self.forward:
            waiting[edge.target] += 1
        position = {n: i for i, n in enumerate(self.nodes)}
        ready = [n for n in self.nodes if waiting[n] == 0]
        order: list[str] = []
        while ready:
            ready.sort(key=position.__getitem__)
            node = ready.pop(0)
            order.append(node)
            for edge in self.outgoing(node):
                waiting[edge.target] -= 1
                if waiting[edge.target] == 0:
                    ready.append(edge.target)
        return order

    def reach(self, starts: Iterable[str], *, backwards: bool = False) -> set[str]:
        """Nodes reachable over forward edges from `starts` (themselves included)."""
        seen = set(starts)
        frontier = list(seen)
        while frontier:
            node = frontier.pop()
            edges = self.incoming(node) if backwards else self.outgoing(node)
            for edge in edges:
                nxt = edge.source if backwards else edge.target
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
        return seen

    @cached_property
    def trigger(self) -> str | None:
        found = [n for n, spec in self.nodes.items() if spec.type == NodeType.TRIGGER]
        return found[0] if len(found) == 1 else None

    # -- loops ----------------------------------------------------------------------------------
    @cached_property
    def bodies(self) -> dict[str, frozenset[str]]:
        """Each loop node's body: the nodes on a cycle through it (the loop node excluded),
        including the whole body of every loop nested in it."""
        bodies: dict[str, set[str]] = {}
        for node_id, spec in self.nodes.items():
            if spec.type != NodeType.LOOP:
                continue
            ends = [e.source for e in self.back_edges if e.target == node_id]
            inside = self.reach([node_id]) & self.reach(ends, backwards=True) if ends else set()
            bodies[node_id] = inside - {node_id}
        grew = True
        while grew:
            grew = False
            for loop, body in bodies.items():
                nested = set().union(*(bodies[inner] for inner in body & bodies.keys()))
                if not nested <= body | {loop}:
                    body |= nested - {loop}
                    grew = True
        return {loop: frozenset(body) for loop, body in bodies.items()}

    def back_sources(self, loop_id: str) -> list[str]:
        return [e.source for e in self.back_edges if e.target == loop_id]

    def enclosing(self, node_id: str) -> list[str]:
        """The loops whose body holds the node, innermost first."""
        loops = [loop for loop, body in self.bodies.items() if node_id in body]
        return sorted(loops, key=lambda loop: len(self.bodies[loop]))

    def leaves_body(self, edge: EdgeSpec) -> str | None:
        """The loop whose body this forward edge leaves from inside (not via the loop node)."""
        for loop, body in self.bodies.items():
            if edge.source in body and edge.target not in body and edge.target != loop:
                return loop
        return None

    def is_marked_loop(self, edge: EdgeSpec) -> bool:
        return edge.type == EdgeType.LOOP
