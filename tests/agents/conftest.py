"""Fixtures for agent tests: the tool fixtures, the scripted model server, and a worker's
`JobContext` whose services hold `RuntimeDeps` wired to that server with the whole catalogue
(agents and orchestration included)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

import tools.agents  # registers the agent tools
import tools.orchestration  # registers the orchestration tools
from assistant.agent_runs import RUNTIME_SERVICE
from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from store.db import Database
from store.repositories.agents import AgentRepository
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.model_server import ModelServer
from tests.runtime.conftest import model_server, server, settings_for
from tests.tools.conftest import call_tool, catalog, tool_context, two, ws
from tools.jobs import JobContext
from tools.registry import ToolRegistry

__all__ = ["call_tool", "catalog", "model_server", "server", "tool_context", "two", "ws"]
DOMAINS = (tools.agents, tools.orchestration)


@pytest.fixture
def deps(database: Database, server: ModelServer, catalog: ToolRegistry,
         monkeypatch: pytest.MonkeyPatch) -> RuntimeDeps:
    monkeypatch.setenv("NEPTUNE_TEST_KEY", "sk-env-test-key")
    settings = settings_for(server)
    gateway = Gateway(retries=settings.model_retries, backoff=settings.retry_backoff)
    return RuntimeDeps(database, gateway, catalog, settings)


@pytest.fixture
def job(database: Database, deps: RuntimeDeps) -> JobContext:
    return JobContext(database.sessions, datetime.now(UTC), {RUNTIME_SERVICE: deps})


async def make_agent(database: Database, ws: WorkspaceFixture, name: str = "Helper", *,
                     tools: list[str] | None = None, **values: Any) -> uuid.UUID:
    """An active agent with a system prompt and the given tools, created by the owner."""
    config = {"systemPrompt": f"You are {name}.", "tools": tools or [], "model": None}
    async with scoped_session(database.sessions, ws.scope) as session:
        row = await AgentRepository(session, ws.scope).create(
            name=name, status=values.pop("status", "active"), config=config,
            created_by=ws.user_id, description=f"{name} does things.", **values)
    return row.id
