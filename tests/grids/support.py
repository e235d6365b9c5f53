"""What the grid tests share: building graphs, creating grids through the tool, running an
execution to its next stop with the engine, and reading what a run recorded."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.grids import ExecutionStep, GridExecution
from store.repositories.grids import ExecutionStepRepository, GridExecutionRepository
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tools.grids.engine import Engine
from tools.grids.model import ModelPrompt, ModelReply

Sessions = async_sessionmaker[AsyncSession]
CallTool = Any


def node(node_id: str, kind: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "config": config}


def edge(source: str, target: str, condition: str | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"source": source, "target": target, **extra}
    if condition is not None:
        found["condition"] = condition
        found.setdefault("type", "conditional")
    return found


def chain(*ids: str) -> list[dict[str, Any]]:
    return [edge(a, b) for a, b in itertools.pairwise(ids)]


async def create(call_tool: CallTool, ws: WorkspaceFixture, nodes: list[dict[str, Any]],
                 edges: list[dict[str, Any]], **extra: Any) -> uuid.UUID:
    result = await call_tool(ws, "create_grid", {"name": f"Grid {uuid.uuid4().hex[:6]}",
                                                 "graph": {"nodes": nodes, "edges": edges},
                                                 **extra})
    grid_id: uuid.UUID = result.grid.id
    return grid_id


@dataclass
class Run:
    execution: GridExecution
    steps: list[ExecutionStep]

    @property
    def status(self) -> str:
        return str(self.execution.status)

    def by_node(self) -> dict[str, list[ExecutionStep]]:
        found: dict[str, list[ExecutionStep]] = {}
        for step in self.steps:
            found.setdefault(step.node_id, []).append(step)
        return found

    def statuses(self) -> dict[str, str]:
        """Each node's last step status."""
        return {node_id: str(steps[-1].status) for node_id, steps in self.by_node().items()}

    def output(self, node_id: str) -> Any:
        step = self.by_node()[node_id][-1]
        return (step.output or {}).get("result")


async def load(sessions: Sessions, ws: WorkspaceFixture, execution_id: uuid.UUID) -> Run:
    async with scoped_session(sessions, ws.scope) as s:
        run = await GridExecutionRepository(s, ws.scope).get(execution_id)
        steps = await ExecutionStepRepository(s, ws.scope).for_execution(execution_id)
    return Run(run, steps)


async def start(call_tool: CallTool, ws: WorkspaceFixture, grid_id: uuid.UUID,
                run_input: Mapping[str, Any] | None = None, **options: Any) -> uuid.UUID:
    result = await call_tool(ws, "run_grid", {"grid_id": str(grid_id),
                                              "input": dict(run_input or {})}, **options)
    execution_id: uuid.UUID = result.execution.id
    return execution_id


async def advance(sessions: Sessions, ws: WorkspaceFixture, execution_id: uuid.UUID, *,
                  services: Mapping[str, Any] | None = None, now: datetime | None = None) -> Run:
    """Run the execution to its next stop (end, delay, approval) with the engine, directly."""
    await Engine(sessions, ws.scope, services or {}, now=now).advance(execution_id)
    return await load(sessions, ws, execution_id)


async def run_grid(call_tool: CallTool, sessions: Sessions, ws: WorkspaceFixture,
                   nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                   run_input: Mapping[str, Any] | None = None, *,
                   services: Mapping[str, Any] | None = None, **extra: Any) -> Run:
    """Create a grid, queue a run, and run it to its next stop."""
    grid_id = await create(call_tool, ws, nodes, edges, **extra)
    execution_id = await start(call_tool, ws, grid_id, run_input)
    return await advance(sessions, ws, execution_id, services=services)


@dataclass
class FakeModel:
    """A `ModelCall` that answers from a list (or echoes the prompt) and records prompts."""

    answers: list[str] = field(default_factory=list)
    prompts: list[ModelPrompt] = field(default_factory=list)

    async def complete(self, prompt: ModelPrompt) -> ModelReply:
        self.prompts.append(prompt)
        text = self.answers.pop(0) if self.answers else f"echo: {prompt.prompt}"
        return ModelReply(text=text, model="fake-model", prompt_tokens=3, completion_tokens=2)
