"""Test fixtures: one embedded PostgreSQL per test run, migrated, used through the service role.

Each test makes its own workspaces (`make_workspace`), so tests never see each other's rows and
need no cleanup. Tests that need a database of their own (migrations) create one on `pg`.
"""

from __future__ import annotations

import itertools
import random
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.bootstrap import DatabaseUrls, prepare_embedded
from store.db import Database
from store.demo.context import DemoContext
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.core import MemberRole, User, Workspace, WorkspaceMember
from store.tenancy import WorkspaceScope, scoped_session
from tests.model_guard import NetworkGuard

_counter = itertools.count()


@pytest.fixture(scope="session", autouse=True)
def _network_guard_session() -> Iterator[NetworkGuard]:
    with NetworkGuard() as guard:
        yield guard


@pytest.fixture(autouse=True)
def network_guard(_network_guard_session: NetworkGuard) -> Iterator[NetworkGuard]:
    """Any connection beyond loopback fails the test, even if the code swallowed the error."""
    yield _network_guard_session
    _network_guard_session.raise_if_violated()


@pytest.fixture(scope="session")
def pg() -> Iterator[EmbeddedServer]:
    with tempfile.TemporaryDirectory(prefix="neptune-test-") as tmp:
        server = EmbeddedServer(Path(tmp), delete_on_exit=True)
        yield server
        server.stop()


@pytest.fixture(scope="session")
async def db_urls(pg: EmbeddedServer) -> DatabaseUrls:
    urls = await prepare_embedded(pg, "neptune_test")
    await upgrade(urls.owner)
    return urls


@pytest.fixture(scope="session")
async def database(db_urls: DatabaseUrls) -> AsyncIterator[Database]:
    db = Database.connect(db_urls.app, pool_size=5)
    yield db
    await db.close()


@pytest.fixture(scope="session")
def sessions(database: Database) -> async_sessionmaker[AsyncSession]:
    return database.sessions


@dataclass(frozen=True)
class WorkspaceFixture:
    scope: WorkspaceScope
    user_id: uuid.UUID
    slug: str

    @property
    def workspace_id(self) -> uuid.UUID:
        return self.scope.workspace_id


MakeWorkspace = Callable[..., Awaitable[WorkspaceFixture]]


async def create_workspace(
    sessions: async_sessionmaker[AsyncSession],
    *,
    role: MemberRole = MemberRole.OWNER,
    name: str | None = None,
) -> WorkspaceFixture:
    n = next(_counter)
    scope = WorkspaceScope(uuid.uuid4())
    slug = f"ws-{n}-{scope.workspace_id.hex[:8]}"
    async with scoped_session(sessions, scope) as session:
        session.add(Workspace(id=scope.workspace_id, name=name or f"Workspace {n}", slug=slug))
        user = User(email=f"owner-{slug}@example.com", first_name="Test", last_name=f"Owner{n}")
        session.add(user)
        await session.flush()
        session.add(WorkspaceMember(workspace_id=scope.workspace_id, user_id=user.id, role=role))
    return WorkspaceFixture(scope=scope, user_id=user.id, slug=slug)


@pytest.fixture
def make_workspace(sessions: async_sessionmaker[AsyncSession]) -> MakeWorkspace:
    async def make(**kwargs: object) -> WorkspaceFixture:
        return await create_workspace(sessions, **kwargs)  # type: ignore[arg-type]

    return make


def demo_context(
    session: AsyncSession, ws: WorkspaceFixture, *, seed: int = 5,
    now: datetime | None = None, size: float = 0.1, company_name: str = "Test Co",
) -> DemoContext:
    """A small, seeded DemoContext for one workspace: what each domain's seed test needs."""
    return DemoContext(
        session=session, scope=ws.scope, rng=random.Random(seed), now=now or datetime.now(UTC),
        user_ids=[ws.user_id], company_name=company_name, size=size,
    )
