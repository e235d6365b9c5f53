"""Insight fixtures: a fresh workspace with helpers to add rows, move them, and sweep it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.insights.model import BudgetOf
from assistant.insights.sweep import SweepReport, sweep_workspace
from store.models.ai import ProactiveInsight
from store.repositories.ai import InsightRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.http.conftest import (  # noqa: F401 - the HTTP app fixtures, for the REST tests
    app,
    client,
    make_member,
    make_services,
    other,
    owner,
    services,
)
from tests.http.test_browser import chromium  # noqa: F401 - one browser per module
from tests.runtime.conftest import model_server, server  # noqa: F401
from tests.tools.conftest import call_tool, catalog, tool_context, two, ws  # noqa: F401


@dataclass
class Seed:
    """One workspace's data as a detector sees it, with `now` fixed for the whole test."""

    sessions: async_sessionmaker[AsyncSession]
    ws: WorkspaceFixture
    now: datetime
    budget: int = 10_000

    async def add(self, *rows: Any) -> None:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            session.add_all(rows)

    async def update(self, model: Any, row_id: uuid.UUID, **values: Any) -> None:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            await session.execute(sa.update(model).where(
                model.workspace_id == self.ws.workspace_id, model.id == row_id).values(**values))

    async def sweep(self, *only: str, at: datetime | None = None) -> SweepReport:
        budget: BudgetOf = lambda _workspace: self.budget  # noqa: E731
        async with scoped_session(self.sessions, self.ws.scope) as session:
            return await sweep_workspace(session, self.ws.scope, at or self.now,
                                         budget_of=budget, only=only or None)

    async def insights(self, detector: str | None = None) -> list[ProactiveInsight]:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            where = [] if detector is None else [ProactiveInsight.detector == detector]
            return await InsightRepository(session, self.ws.scope)._all(
                *where, order_by=[ProactiveInsight.fingerprint])

    async def insight(self, fingerprint: str) -> ProactiveInsight:
        found = [r for r in await self.insights() if r.fingerprint == fingerprint]
        assert len(found) == 1, f"{fingerprint}: {[r.fingerprint for r in await self.insights()]}"
        return found[0]

    async def dismiss(self, insight_id: uuid.UUID) -> None:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            await InsightRepository(session, self.ws.scope).dismiss(insight_id)

    async def mark_seen(self, insight_id: uuid.UUID) -> None:
        async with scoped_session(self.sessions, self.ws.scope) as session:
            await InsightRepository(session, self.ws.scope).mark_seen([insight_id])


def midday() -> datetime:
    """Today at noon UTC: detectors reason in UTC days (overdue since, spent today, this month),
    so a test's clock stays clear of midnight whenever it runs."""
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture
def now() -> datetime:
    return midday()


@pytest.fixture
async def seed(make_workspace: MakeWorkspace, sessions: async_sessionmaker[AsyncSession],
               now: datetime) -> Seed:
    return Seed(sessions, await make_workspace(), now)
