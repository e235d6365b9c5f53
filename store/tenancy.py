"""Workspace scoping: the one way a transaction learns which workspace it acts for.

`scoped_session()` opens a transaction and sets `neptune.workspace_id` with
`set_config(..., true)`, so the setting dies with the transaction and a pooled connection never
carries one workspace into another's request. Row-level security policies read that setting;
repositories additionally filter by the scope, so a bug in either layer alone leaks nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

WORKSPACE_SETTING = "neptune.workspace_id"
_SESSION_KEY = "neptune.workspace_id"


@dataclass(frozen=True, slots=True)
class WorkspaceScope:
    """The workspace a unit of work belongs to. Built by the caller's authentication only."""

    workspace_id: UUID


async def bind_scope(session: AsyncSession, scope: WorkspaceScope) -> None:
    """Set the workspace for the session's current transaction (begins one if needed)."""
    await session.execute(
        sa.select(sa.func.set_config(WORKSPACE_SETTING, str(scope.workspace_id), True))
    )
    session.info[_SESSION_KEY] = scope.workspace_id


def bound_workspace(session: AsyncSession) -> UUID | None:
    return session.info.get(_SESSION_KEY)


@asynccontextmanager
async def scoped_session(
    sessions: async_sessionmaker[AsyncSession], scope: WorkspaceScope
) -> AsyncIterator[AsyncSession]:
    """A session with one transaction bound to `scope`; commits on success, rolls back on error."""
    async with sessions() as session, session.begin():
        await bind_scope(session, scope)
        yield session
