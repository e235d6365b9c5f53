"""HTTP fixtures: the app in-process over the test database, the full tool catalogue, and the
scripted model on loopback; tokens signed with the test secret."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from assistant.http.app import Services, build_services, create_app
from assistant.http.settings import ApiSettings
from assistant.services import build_deps
from store.db import Database
from store.models.core import MemberRole, SubscriptionTier, User, WorkspaceMember
from store.models.orchestration import AgentPendingAction
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.model_server import ModelServer
from tests.runtime.conftest import model_server, server, settings_for

__all__ = ["model_server", "server"]
JWT_SECRET = "test-jwt-secret-with-enough-bytes-for-hs256"
API_SECRET = "test-api-secret-with-enough-bytes-for-hs256"


def api_settings(**overrides: Any) -> ApiSettings:
    """Test settings; rate limits are out of the way unless a test sets them."""
    unlimited = {tier: 1_000_000 for tier in SubscriptionTier}
    values: dict[str, Any] = {"jwt_secret": JWT_SECRET, "api_secret": API_SECRET,
                              "dev_mode": False, "user_rate_limit": 1_000_000,
                              "rate_limits": unlimited, **overrides}
    return ApiSettings(**values)


def token(workspace: uuid.UUID | str, subject: uuid.UUID | str, *, secret: str = JWT_SECRET,
          expires_in: int = 600, **claims: Any) -> str:
    now = int(time.time())
    payload = {"sub": str(subject), "workspace": str(workspace), "iat": now,
               "exp": now + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


@dataclass
class Member:
    ws: WorkspaceFixture
    user_id: uuid.UUID
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def add_member(database: Database, ws: WorkspaceFixture, role: MemberRole) -> Member:
    async with scoped_session(database.sessions, ws.scope) as session:
        user = User(email=f"{role.value}-{uuid.uuid4().hex[:8]}@example.com",
                    first_name=role.value.title(), last_name="Member")
        session.add(user)
        await session.flush()
        session.add(WorkspaceMember(workspace_id=ws.workspace_id, user_id=user.id, role=role))
    return Member(ws, user.id, token(ws.workspace_id, user.id))


MakeServices = Callable[..., Services]


@pytest.fixture
def make_services(database: Database, server: ModelServer,
                  monkeypatch: pytest.MonkeyPatch) -> MakeServices:
    monkeypatch.setenv("NEPTUNE_TEST_KEY", "sk-env-test-key")

    def make(**api: Any) -> Services:
        deps = build_deps(database, settings=settings_for(server))
        return build_services(deps, api_settings(**api))

    return make


@pytest.fixture
def services(make_services: MakeServices) -> Services:
    return make_services()


@pytest.fixture
def app(services: Services) -> FastAPI:
    return create_app(services)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://neptune.test") as c:
        yield c


@pytest.fixture
async def owner(make_workspace: MakeWorkspace) -> Member:
    ws = await make_workspace()
    return Member(ws, ws.user_id, token(ws.workspace_id, ws.user_id))


@pytest.fixture
async def other(make_workspace: MakeWorkspace) -> Member:
    ws = await make_workspace()
    return Member(ws, ws.user_id, token(ws.workspace_id, ws.user_id))


MakeMember = Callable[[WorkspaceFixture, MemberRole], Awaitable[Member]]


@pytest.fixture
def make_member(database: Database) -> MakeMember:
    async def make(ws: WorkspaceFixture, role: MemberRole) -> Member:
        return await add_member(database, ws, role)

    return make


async def new_chat(client: httpx.AsyncClient, member: Member, title: str = "Chat") -> str:
    response = await client.post("/v1/conversations", json={"title": title},
                                 headers=member.headers)
    assert response.status_code == 201, response.text
    conversation_id: str = response.json()["id"]
    return conversation_id


async def pending_actions(database: Database, member: Member) -> list[AgentPendingAction]:
    async with scoped_session(database.sessions, member.ws.scope) as session:
        page = await AgentPendingActionRepository(session, member.ws.scope).list(limit=50)
    return page.items
