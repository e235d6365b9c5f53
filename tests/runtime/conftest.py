"""Runtime fixtures: a scripted model server on loopback, and a Runtime wired to it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from assistant.runtime import Runtime
from assistant.settings import RuntimeSettings
from store.db import Database
from store.models.ai import AiConversation
from store.models.core import MemberRole
from store.repositories.ai import ConversationRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.model_server import ModelServer
from tests.runtime.support import registry
from tools.context import Caller


@pytest.fixture(scope="session")
async def model_server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture
def server(model_server: ModelServer) -> ModelServer:
    model_server.reset()
    return model_server


def settings_for(server: ModelServer, **overrides: Any) -> RuntimeSettings:
    aliases = {
        "primary": {"model": "openai/primary-model", "api_base": server.base_url,
                    "api_key_env": "NEPTUNE_TEST_KEY"},
        "backup": {"model": "openai/backup-model", "api_base": server.base_url,
                   "api_key_env": "NEPTUNE_TEST_KEY"},
    }
    values: dict[str, Any] = {"model": "primary", "fallback_models": ("backup",),
                              "model_aliases": aliases, "model_timeout": 5.0,
                              "retry_backoff": 0.01, **overrides}
    return RuntimeSettings(**values)


MakeRuntime = Callable[..., Runtime]


@pytest.fixture
def make_runtime(database: Database, server: ModelServer,
                 monkeypatch: pytest.MonkeyPatch) -> MakeRuntime:
    monkeypatch.setenv("NEPTUNE_TEST_KEY", "sk-env-test-key")

    def make(**overrides: Any) -> Runtime:
        keyring = overrides.pop("keyring", None)
        settings = settings_for(server, **overrides)
        gateway = Gateway(retries=settings.model_retries, backoff=settings.retry_backoff)
        return Runtime(RuntimeDeps(database, gateway, registry, settings, keyring=keyring))

    return make


@pytest.fixture
def runtime(make_runtime: MakeRuntime) -> Runtime:
    return make_runtime()


@dataclass
class Chat:
    """A workspace, its owner as a caller, and one of their conversations."""

    ws: WorkspaceFixture
    caller: Caller
    conversation_id: uuid.UUID


async def new_conversation(database: Database, ws: WorkspaceFixture, *,
                           user_id: uuid.UUID | None = None, title: str | None = None
                           ) -> uuid.UUID:
    async with scoped_session(database.sessions, ws.scope) as session:
        row: AiConversation = await ConversationRepository(session, ws.scope).create(
            user_id=user_id or ws.user_id, title=title)
    return row.id


@pytest.fixture
async def chat(make_workspace: MakeWorkspace, database: Database) -> Chat:
    ws = await make_workspace()
    caller = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    return Chat(ws, caller, await new_conversation(database, ws, title="Test chat"))
