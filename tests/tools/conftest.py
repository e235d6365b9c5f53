"""Fixtures for tool tests: a ToolContext per call, bound to one workspace and role, and fresh
workspaces (one, or two for tests that prove one cannot reach the other)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.core import MemberRole
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture, create_workspace
from tools.catalog import load_catalog
from tools.context import Caller, ToolContext
from tools.invoke import invoke
from tools.registry import ToolRegistry

ContextFactory = Callable[..., AbstractAsyncContextManager[ToolContext]]


@pytest.fixture(scope="session")
def catalog() -> ToolRegistry:
    return load_catalog()


@pytest.fixture
def tool_context(sessions: async_sessionmaker[AsyncSession]) -> ContextFactory:
    """`async with tool_context(ws, role=MemberRole.VIEWER) as ctx:` — one transaction."""

    @asynccontextmanager
    async def make(
        ws: WorkspaceFixture, *, role: MemberRole = MemberRole.OWNER,
        flags: dict[str, Any] | None = None, user_id: uuid.UUID | None = None,
        key: str | None = None, services: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[ToolContext]:
        """`key` is the idempotency key: pass the same one twice to run a retried call."""
        caller = Caller.for_member(ws.workspace_id, user_id or ws.user_id, role, flags)
        async with scoped_session(sessions, ws.scope) as session:
            yield ToolContext(caller=caller, session=session,
                              idempotency_key=key or f"test:{uuid.uuid4()}",
                              services=services or {})

    return make


@pytest.fixture
def call_tool(catalog: ToolRegistry, tool_context: ContextFactory) -> Callable[..., Any]:
    """`await call_tool(ws, "create_deal", {...}, role=..., key=...)`: run one tool in its own
    transaction, as the runtime would; raises ToolError like the runtime sees it. The options
    are `tool_context`'s: a repeated `key` makes the call a retry of an earlier one."""

    async def call(ws: WorkspaceFixture, name: str, arguments: dict[str, Any] | str,
                   **ctx_options: Any) -> BaseModel:
        tool = catalog.get(name)
        assert tool is not None, f"no tool named {name}"
        async with tool_context(ws, **ctx_options) as ctx:
            return await invoke(tool, ctx, arguments)

    return call


@pytest.fixture
async def ws(sessions: async_sessionmaker[AsyncSession]) -> WorkspaceFixture:
    return await create_workspace(sessions)


@pytest.fixture
async def two(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[WorkspaceFixture, WorkspaceFixture]:
    return await create_workspace(sessions), await create_workspace(sessions)
