"""Agent repositories and the agent catalogue against the real database."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import agents as agents_demo
from store.errors import InvalidArgument, NotFound
from store.models.agents import AgentStatus, AgentType, ExecutionStatus, ScheduleTrigger
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentLogRepository,
    AgentPackCatalogue,
    AgentRepository,
    AgentScheduleRepository,
    AgentTemplateCatalogue,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


async def test_agent_crud_search_and_paging(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = AgentRepository(s, ws.scope)
        scout = await repo.create(
            name="Lead Scout",
            type=AgentType.SALES,
            status=AgentStatus.ACTIVE,
            description="Finds and qualifies leads",
            created_by=ws.user_id,
            config={"model": "gpt-4o-mini", "tools": ["search_contacts"]},
        )
        writer = await repo.create(name="Blog Writer", type=AgentType.CONTENT)
        for i in range(4):
            await repo.create(name=f"Helper {i}", type=AgentType.TASK, status=AgentStatus.PAUSED)
        assert (await repo.get(scout.id)).config["tools"] == ["search_contacts"]
        assert [a.id for a in (await repo.search("lead")).items] == [scout.id]
        assert [a.id for a in (await repo.search("qualifies")).items] == [scout.id]
        assert [a.id for a in (await repo.search(type=AgentType.CONTENT)).items] == [writer.id]
        assert len((await repo.search(status=AgentStatus.PAUSED)).items) == 4
        first = await repo.search(limit=4)
        assert [a.name for a in first.items] == ["Blog Writer", "Helper 0", "Helper 1", "Helper 2"]
        second = await repo.search(limit=4, cursor=first.next_cursor)
        assert [a.name for a in second.items] == ["Helper 3", "Lead Scout"]
        assert second.next_cursor is None
        assert (await repo.by_name("  lead SCOUT ")) is not None
        assert (await repo.list(type=AgentType.TASK, limit=10)).items.__len__() == 4
        updated = await repo.update(
            writer.id, status=AgentStatus.ACTIVE, description="Drafts posts"
        )
        assert updated.status == AgentStatus.ACTIVE
        archived = await repo.archive(writer.id)
        assert archived.status == AgentStatus.ARCHIVED
        assert writer.id not in [a.id for a in (await repo.search(limit=50)).items]
        assert writer.id in [
            a.id for a in (await repo.search(include_archived=True, limit=50)).items
        ]
        await repo.delete(writer.id)
        with pytest.raises(NotFound):
            await repo.get(writer.id)
        assert await repo.count() == 5
        with pytest.raises(InvalidArgument, match="no field"):
            await repo.create(name="Bad", kind="robot")


async def test_execution_lifecycle_and_stats(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        agents = AgentRepository(s, ws.scope)
        runs = AgentExecutionRepository(s, ws.scope)
        agent = await agents.create(name="Inbox Triage", type=AgentType.EMAIL)
        other = await agents.create(name="Notetaker", type=AgentType.NOTE)
        ok = await runs.start(agent.id, input={"folder": "inbox"}, triggered_by=ws.user_id)
        assert ok.status == ExecutionStatus.RUNNING and ok.started_at is not None
        done = await runs.finish(
            ok.id, ExecutionStatus.COMPLETED, output={"sorted": 12}, tokens_used=900, cost_cents=3
        )
        assert done.completed_at is not None and done.duration_ms is not None
        bad = await runs.start(agent.id)
        await runs.finish(
            bad.id,
            ExecutionStatus.FAILED,
            error={"message": "IMAP timeout"},
            tokens_used=100,
            cost_cents=1,
        )
        await runs.start(agent.id)
        await runs.create(
            agent_id=other.id,
            status=ExecutionStatus.COMPLETED,
            duration_ms=400,
            tokens_used=50,
            cost_cents=2,
        )
        with pytest.raises(InvalidArgument, match="already ended"):
            await runs.finish(ok.id, ExecutionStatus.FAILED)
        with pytest.raises(InvalidArgument, match="final"):
            await runs.finish(bad.id, ExecutionStatus.RUNNING)

        refreshed = await agents.get(agent.id)
        await s.refresh(refreshed)
        assert refreshed.execution_count == 2 and refreshed.last_executed_at is not None

        stats = await agents.execution_stats(agent.id)
        assert (stats.total, stats.completed, stats.failed, stats.in_progress) == (3, 1, 1, 1)
        assert stats.tokens_used == 1000 and stats.cost_cents == 4
        assert stats.success_rate == 50.0
        everyone = await agents.execution_stats()
        assert everyone.total == 4 and everyone.completed == 2 and everyone.cost_cents == 6
        later = await agents.execution_stats(since=datetime.now(UTC) + timedelta(hours=1))
        assert later.total == 0 and later.success_rate is None and later.avg_duration_ms is None

        failed = await runs.for_agent(agent.id, status=ExecutionStatus.FAILED)
        assert [r.id for r in failed.items] == [bad.id]
        assert len((await runs.for_agent(agent.id, limit=2)).items) == 2


async def test_failing_agents_counts_recent_failures_only(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    old = datetime.now(UTC) - timedelta(days=3)
    async with scoped_session(sessions, ws.scope) as s:
        agents = AgentRepository(s, ws.scope)
        runs = AgentExecutionRepository(s, ws.scope)
        flaky = await agents.create(name="Flaky")
        once = await agents.create(name="Once")
        stale = await agents.create(name="Stale")
        healthy = await agents.create(name="Healthy")
        for i in range(3):
            await runs.create(
                agent_id=flaky.id,
                status=ExecutionStatus.FAILED,
                error={"message": f"boom {i}"},
                created_at=datetime.now(UTC) - timedelta(minutes=10 - i),
            )
        await runs.create(agent_id=once.id, status=ExecutionStatus.FAILED, error={"message": "x"})
        for _ in range(5):
            await runs.create(agent_id=stale.id, status=ExecutionStatus.FAILED, created_at=old)
        await runs.create(agent_id=healthy.id, status=ExecutionStatus.COMPLETED)

        worst = await agents.failing(min_failures=2)
        assert [(f.agent.id, f.failures, f.last_error) for f in worst] == [(flaky.id, 3, "boom 2")]
        assert [f.agent.id for f in await agents.failing()] == [flaky.id, once.id]
        wide = await agents.failing(within=timedelta(days=7), min_failures=2)
        assert [f.agent.id for f in wide] == [stale.id, flaky.id]


async def test_schedules_due_and_mark_ran(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    now = datetime.now(UTC)
    async with scoped_session(sessions, ws.scope) as s:
        agent = await AgentRepository(s, ws.scope).create(name="Digest")
        schedules = AgentScheduleRepository(s, ws.scope)
        overdue = await schedules.create(
            agent_id=agent.id,
            trigger_type=ScheduleTrigger.SCHEDULED,
            cron="0 9 * * 1-5",
            timezone="Europe/Paris",
            next_run_at=now - timedelta(hours=2),
        )
        exactly = await schedules.create(
            agent_id=agent.id,
            trigger_type=ScheduleTrigger.SCHEDULED,
            cron="*/5 * * * *",
            next_run_at=now,
        )
        await schedules.create(
            agent_id=agent.id,
            trigger_type=ScheduleTrigger.SCHEDULED,
            cron="0 0 * * *",
            next_run_at=now + timedelta(hours=1),
        )
        await schedules.create(
            agent_id=agent.id,
            trigger_type=ScheduleTrigger.SCHEDULED,
            cron="0 0 * * *",
            next_run_at=now - timedelta(days=1),
            enabled=False,
        )
        await schedules.create(
            agent_id=agent.id,
            trigger_type=ScheduleTrigger.WEBHOOK,
            webhook_url="https://hooks.example/x",
        )
        assert [x.id for x in await schedules.due(now)] == [overdue.id, exactly.id]
        ran = await schedules.mark_ran(
            overdue.id,
            status=ExecutionStatus.COMPLETED,
            ran_at=now,
            next_run_at=now + timedelta(days=1),
        )
        assert ran.last_run_status == ExecutionStatus.COMPLETED
        assert [x.id for x in await schedules.due(now)] == [exactly.id]
        assert len(await schedules.for_agent(agent.id)) == 5
        assert (await schedules.archive(exactly.id)).enabled is False
        assert await schedules.due(now) == []
        with pytest.raises(InvalidArgument):
            await schedules.create(agent_id=agent.id, trigger_type=ScheduleTrigger.SCHEDULED)


async def test_logs_recent(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        agent = await AgentRepository(s, ws.scope).create(name="Caller", type=AgentType.CALL)
        logs = AgentLogRepository(s, ws.scope)
        t0 = datetime.now(UTC)
        for i in range(3):
            await logs.create(
                agent_id=agent.id,
                user_id=ws.user_id,
                success=i != 1,
                provider="openai",
                model="gpt-4o-mini",
                duration_ms=100 * i,
                input_summary=f"call {i}",
                logged_at=t0 + timedelta(seconds=i),
                error="timeout" if i == 1 else None,
            )
        await logs.create(success=True, input_summary="no agent")
        recent = await logs.recent(agent_id=agent.id)
        assert [x.input_summary for x in recent.items] == ["call 2", "call 1", "call 0"]
        assert [x.error for x in (await logs.recent(success=False)).items] == ["timeout"]
        assert len((await logs.recent()).items) == 4


async def test_catalogue_seeds_only_absent_slugs(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    slug = f"lead-scout-{uuid.uuid4().hex[:8]}"
    row = {
        "slug": slug,
        "name": "Lead Scout",
        "category": "sales",
        "type": AgentType.SALES,
        "trending_score": 10_000_000,
        "is_featured": True,
    }
    async with scoped_session(sessions, a.scope) as s:
        first = await AgentTemplateCatalogue(s).ensure([row])
    async with scoped_session(sessions, b.scope) as s:
        catalogue = AgentTemplateCatalogue(s)
        again = await catalogue.ensure([{**row, "name": "Renamed"}])
        assert again == first
        template = await catalogue.get(first[slug])
        assert template.name == "Lead Scout"
        assert (await catalogue.by_slug(slug)) is not None
        top = await catalogue.published(featured_only=True, limit=1)
        assert [t.slug for t in top] == [slug]
        assert slug not in [t.slug for t in await catalogue.published(category="nothing-here")]
        assert [t.slug for t in await catalogue.published(f"SCOUT {slug}")] == [slug]
        assert await catalogue.published(f"{slug} nothing-here") == []
        agent = await AgentRepository(s, b.scope).create(
            name=template.name,
            type=template.type,
            config=template.config,
            source_template_id=template.id,
            is_custom=False,
        )
        assert agent.source_template_id == template.id
        with pytest.raises(NotFound):
            await catalogue.get(uuid.uuid4())
        pack_slug = f"sales-pack-{uuid.uuid4().hex[:8]}"
        packs = AgentPackCatalogue(s)
        ids = await packs.ensure(
            [
                {
                    "slug": pack_slug,
                    "name": "Sales pack",
                    "category": "sales",
                    "agent_templates": [{"slug": slug}],
                    "is_published": True,
                    "install_count": 10**9,
                }
            ]
        )
        assert [p.id for p in await packs.published(category="sales", limit=1)] == [ids[pack_slug]]


async def test_other_workspace_ids_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        foreign = await AgentRepository(s, b.scope).create(name="Theirs")
        foreign_run = await AgentExecutionRepository(s, b.scope).start(foreign.id)
    async with scoped_session(sessions, a.scope) as s:
        agents = AgentRepository(s, a.scope)
        with pytest.raises(NotFound):
            await agents.get(foreign.id)
        with pytest.raises(NotFound):
            await agents.update(foreign.id, name="Mine now")
        with pytest.raises(NotFound):
            await agents.execution_stats(foreign.id)
        with pytest.raises(NotFound):
            await AgentExecutionRepository(s, a.scope).finish(
                foreign_run.id, ExecutionStatus.FAILED
            )
        assert (await agents.search("Theirs")).items == []
    with pytest.raises(NotFound, match="agent"):
        async with scoped_session(sessions, a.scope) as s:
            await AgentExecutionRepository(s, a.scope).create(agent_id=foreign.id)


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=3)
        await agents_demo.seed(ctx)
        agents = AgentRepository(s, ws.scope)
        assert await agents.count() == len(ctx.ids["agents"]) >= 8
        assert len({a.type for a in (await agents.list(limit=50)).items}) >= 6
        stats = await agents.execution_stats()
        assert stats.failed >= 1 and stats.completed >= 1
        assert await AgentScheduleRepository(s, ws.scope).count() >= 2
        assert await AgentLogRepository(s, ws.scope).count() >= 1
        assert (await AgentTemplateCatalogue(s).by_slug("lead-scout")) is not None
