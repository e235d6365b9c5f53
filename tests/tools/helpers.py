"""What the tool tests share besides fixtures: reading and seeding one workspace's rows, and
proving that a refused call wrote nothing.

Every helper opens its own transaction scoped to the workspace, as a second connection would,
so a test sees only what a tool call committed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.admin import AuditLog
from store.models.core import MemberRole, User, WorkspaceMember
from store.repositories.admin import AuditLogRepository
from store.repositories.base import Repository
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture

Sessions = async_sessionmaker[AsyncSession]
CallTool = Callable[..., Any]


async def rows(sessions: Sessions, ws: WorkspaceFixture, model: Any, *where: Any) -> list[Any]:
    """The workspace's rows of `model` matching `where`, in no particular order."""
    async with scoped_session(sessions, ws.scope) as s:
        stmt = sa.select(model).where(model.workspace_id == ws.workspace_id, *where)
        return list(await s.scalars(stmt))


async def audit(sessions: Sessions, ws: WorkspaceFixture, entity_type: str) -> list[AuditLog]:
    """The audit rows about one kind of entity."""
    return await rows(sessions, ws, AuditLog, AuditLog.entity_type == entity_type)


async def audits(sessions: Sessions, ws: WorkspaceFixture) -> list[AuditLog]:
    """Every audit row of the workspace, oldest first."""
    async with scoped_session(sessions, ws.scope) as s:
        return (await AuditLogRepository(s, ws.scope).list(limit=200, descending=False)).items


async def audit_trail(
    sessions: Sessions, ws: WorkspaceFixture, entity_type: str, entity_id: Any = None,
) -> list[tuple[str, dict[str, Any]]]:
    """`(action, changes)` of the audit rows about one entity (or all of a kind), oldest first."""
    async with scoped_session(sessions, ws.scope) as s:
        repo = AuditLogRepository(s, ws.scope)
        if entity_id is None:
            page = await repo.list(entity_type=entity_type)
        else:
            page = await repo.for_entity(entity_type, entity_id)
        return [(row.action, row.changes) for row in reversed(page.items)]


async def row_counts(sessions: Sessions, ws: WorkspaceFixture, *models: Any) -> dict[str, int]:
    """Rows per table, for a footprint of the tables a domain's tools write."""
    return {m.__tablename__: len(await rows(sessions, ws, m)) for m in models}


@asynccontextmanager
async def unchanged(
    snapshot: Callable[[Sessions, WorkspaceFixture], Awaitable[Any]], sessions: Sessions,
    *workspaces: WorkspaceFixture,
) -> AsyncIterator[None]:
    """`async with unchanged(footprint, sessions, ws):` fails unless the block left every
    workspace's snapshot as it found it: a refused call must write nothing."""
    before = [await snapshot(sessions, ws) for ws in workspaces]
    yield
    assert [await snapshot(sessions, ws) for ws in workspaces] == before


async def seed(sessions: Sessions, ws: WorkspaceFixture, repo: type[Repository[Any]],
               **values: Any) -> uuid.UUID:
    """Create one row through its repository; its id."""
    async with scoped_session(sessions, ws.scope) as s:
        row = await repo(s, ws.scope).create(**values)
    return row.id


async def fetch(sessions: Sessions, ws: WorkspaceFixture, repo: type[Repository[Any]],
                row_id: uuid.UUID) -> Any:
    async with scoped_session(sessions, ws.scope) as s:
        return await repo(s, ws.scope).find(row_id)


async def count(sessions: Sessions, ws: WorkspaceFixture, repo: type[Repository[Any]]) -> int:
    async with scoped_session(sessions, ws.scope) as s:
        return await repo(s, ws.scope).count()


async def add_member(
    sessions: Sessions, ws: WorkspaceFixture, first: str = "Priya",
    role: MemberRole = MemberRole.MEMBER, *, active: bool = True, email: str | None = None,
) -> uuid.UUID:
    """A new user who is a member of the workspace (users are global, so the email is unique)."""
    async with scoped_session(sessions, ws.scope) as s:
        user = User(email=email or f"{first.lower()}-{uuid.uuid4().hex[:6]}@example.com",
                    first_name=first, last_name="Tester")
        s.add(user)
        await s.flush()
        s.add(WorkspaceMember(workspace_id=ws.workspace_id, user_id=user.id, role=role,
                              is_active=active))
    return user.id
