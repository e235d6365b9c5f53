"""The demo's insights are what the detectors write: the first sweep over a demo workspace
refreshes or retires every one of them, and what it leaves open can be acted on."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.insights.registry import DETECTORS
from store.demo import DemoWorkspaceSpec, seed_workspace
from store.models.ai import InsightStatus
from store.models.core import MemberRole, SubscriptionTier
from store.tenancy import WorkspaceScope
from tests.conftest import WorkspaceFixture
from tests.insights.conftest import Seed
from tools.catalog import load_catalog
from tools.invoke import parse_arguments


async def test_a_sweep_reconciles_the_demo_insights(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    spec = DemoWorkspaceSpec(
        slug=f"insights-{uuid.uuid4().hex[:8]}", name="Insight demo",
        tier=SubscriptionTier.STARTER,
        people=(("Ann", "A", MemberRole.OWNER), ("Ben", "B", MemberRole.MEMBER)),
        size=0.1, seed=11)
    await seed_workspace(sessions, spec)
    ws = WorkspaceFixture(WorkspaceScope(spec.workspace_id), uuid.uuid4(), spec.slug)
    seed = Seed(sessions, ws, datetime.now(UTC))
    seeded = await seed.insights()
    assert seeded and {r.detector for r in seeded} <= set(DETECTORS)

    report = await seed.sweep()
    assert report.failed == []
    catalog = load_catalog()
    after = await seed.insights()
    assert {r.detector for r in after} <= set(DETECTORS)
    for row in after:
        if row.status in (InsightStatus.PENDING, InsightStatus.SEEN):
            assert row.detector in report.found
            for action in row.actions:
                tool = catalog.get(action["tool"])
                assert tool is not None, action
                parse_arguments(tool, action["arguments"])
    assert sum(report.found.values()) > 0  # the demo data gives the detectors something
