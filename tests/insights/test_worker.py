"""The worker sweeps each workspace's insights on the job queue: when never swept, when the
interval has passed, and at once after a trigger tool succeeded (a chat turn's committed call
also wakes a sleeping worker).

Like tests/worker, these use a database of their own: the due look-up spans every workspace.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from assistant.insights.sweep import sweep_job
from assistant.insights.triggers import SWEEP_KIND, TRIGGER_TOOLS
from assistant.runtime import Runtime
from assistant.worker import Worker, WorkerSettings
from store.bootstrap import DatabaseUrls, prepare_embedded
from store.db import Database
from store.embedded import EmbeddedServer
from store.migrations import upgrade
from store.models.admin import TaskStatus, TodoHqTask
from store.models.ai import ActionStatus, InsightStatus, InsightSweep, NeptuneActionHistory
from store.models.core import MemberRole, Workspace
from store.tenancy import scoped_session
from tests.conftest import create_workspace
from tests.insights.conftest import Seed, midday
from tests.insights.test_detectors import stalled_fire, tasks_fire
from tests.model_server import Call, ModelServer, Text, ToolCalls
from tests.runtime.conftest import new_conversation, settings_for
from tools.catalog import load_catalog
from tools.context import Caller

HOUR = timedelta(hours=1)


@dataclass
class Clock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
async def insight_urls(pg: EmbeddedServer) -> DatabaseUrls:
    urls = await prepare_embedded(pg, "neptune_insight_worker")
    await upgrade(urls.owner)
    return urls


@pytest.fixture(scope="module")
async def insight_db(insight_urls: DatabaseUrls) -> AsyncIterator[Database]:
    db = Database.connect(insight_urls.app, pool_size=5)
    yield db
    await db.close()


@pytest.fixture
async def seeded(insight_db: Database) -> Seed:
    ws = await create_workspace(insight_db.sessions)
    return Seed(insight_db.sessions, ws, midday())


def worker(db: Database, urls: DatabaseUrls, clock: Callable[[], datetime] | None = None,
           **settings: float) -> Worker:
    chosen = WorkerSettings(insight_sweep_seconds=3600, **settings)  # type: ignore[arg-type]
    if clock is None:
        return Worker(db, urls.app, handlers={SWEEP_KIND: sweep_job}, settings=chosen)
    return Worker(db, urls.app, handlers={SWEEP_KIND: sweep_job}, clock=clock,
                  settings=chosen)


async def last_sweep(seed: Seed) -> InsightSweep | None:
    async with scoped_session(seed.sessions, seed.ws.scope) as session:
        return await session.scalar(sa.select(InsightSweep))


async def test_a_workspace_is_swept_when_due_and_not_again_before_the_interval(
    insight_db: Database, insight_urls: DatabaseUrls, seeded: Seed,
) -> None:
    deal = await stalled_fire(seeded)
    clock = Clock(seeded.now)
    first = await worker(insight_db, insight_urls, clock).run_once()
    assert first.kinds.get(SWEEP_KIND, 0) >= 1
    insight = await seeded.insight(f"stalled_deals:{deal.key}")
    assert insight.status == InsightStatus.PENDING
    swept = await last_sweep(seeded)
    assert swept is not None and swept.swept_at == seeded.now
    assert swept.findings["found"]["stalled_deals"] == 1 and swept.findings["failed"] == []

    clock.now = seeded.now + timedelta(minutes=59)
    assert (await worker(insight_db, insight_urls, clock).run_once()).kinds == {}
    clock.now = seeded.now + HOUR
    again = await worker(insight_db, insight_urls, clock).run_once()
    assert again.kinds.get(SWEEP_KIND, 0) >= 1
    swept = await last_sweep(seeded)
    assert swept is not None and swept.swept_at == seeded.now + HOUR
    assert len(await seeded.insights("stalled_deals")) == 1


async def history(seed: Seed, action: str, status: ActionStatus) -> None:
    await seed.add(NeptuneActionHistory(
        workspace_id=seed.ws.workspace_id, id=uuid.uuid4(), action_type=action, status=status,
        success=status == ActionStatus.SUCCESS, user_id=seed.ws.user_id))


async def test_a_successful_trigger_tool_makes_the_workspace_due_at_once(
    insight_db: Database, insight_urls: DatabaseUrls, seeded: Seed,
) -> None:
    clock = Clock(seeded.now)
    await worker(insight_db, insight_urls, clock).run_once()
    assert await last_sweep(seeded) is not None

    await history(seeded, "list_deals", ActionStatus.SUCCESS)  # reads nothing detectors watch
    await history(seeded, "update_deal", ActionStatus.ERROR)  # changed nothing
    await history(seeded, "update_deal", ActionStatus.PENDING_APPROVAL)  # not yet
    assert (await worker(insight_db, insight_urls, clock).run_once()).kinds == {}

    await history(seeded, "update_deal", ActionStatus.SUCCESS)
    due = await worker(insight_db, insight_urls, clock).run_once()
    assert due.kinds == {SWEEP_KIND: 1}
    assert (await worker(insight_db, insight_urls, clock).run_once()).kinds == {}


async def test_an_inactive_workspace_is_never_swept(
    insight_db: Database, insight_urls: DatabaseUrls, seeded: Seed,
) -> None:
    async with scoped_session(seeded.sessions, seeded.ws.scope) as session:
        await session.execute(sa.update(Workspace).where(
            Workspace.id == seeded.ws.workspace_id).values(is_active=False))
    await stalled_fire(seeded)
    await worker(insight_db, insight_urls, Clock(seeded.now)).run_once()
    assert await last_sweep(seeded) is None and await seeded.insights() == []


async def set_settings(seed: Seed, **settings: object) -> None:
    async with scoped_session(seed.sessions, seed.ws.scope) as session:
        await session.execute(sa.update(Workspace).where(
            Workspace.id == seed.ws.workspace_id).values(settings=settings))


async def test_a_workspace_setting_overrides_the_interval_or_switches_sweeps_off(
    insight_db: Database, insight_urls: DatabaseUrls, seeded: Seed,
) -> None:
    quiet = Seed(seeded.sessions, await create_workspace(seeded.sessions), seeded.now)
    await set_settings(seeded, insight_sweep_seconds=600)
    await set_settings(quiet, insight_sweep_seconds=0)
    await stalled_fire(quiet)
    clock = Clock(seeded.now)
    await worker(insight_db, insight_urls, clock).run_once()
    assert await last_sweep(seeded) is not None
    clock.now = seeded.now + timedelta(minutes=10)
    assert (await worker(insight_db, insight_urls, clock).run_once()).kinds == {SWEEP_KIND: 1}
    swept = await last_sweep(seeded)
    assert swept is not None and swept.swept_at == clock.now

    await history(quiet, "update_deal", ActionStatus.SUCCESS)
    clock.now = seeded.now + timedelta(days=2)
    await worker(insight_db, insight_urls, clock).run_once()
    assert await last_sweep(quiet) is None and await quiet.insights() == []


async def wait_for(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the worker did not get there in time")
        await asyncio.sleep(0.1)


async def test_a_trigger_tool_in_a_chat_turn_wakes_the_worker(
    insight_db: Database, insight_urls: DatabaseUrls, seeded: Seed, server: ModelServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker sleeps for a minute between sweeps; marking the overdue task done in chat
    commits a trigger call and wakes it, and the insight about the task is over."""
    fired = await tasks_fire(seeded)
    running = worker(insight_db, insight_urls, sweep_seconds=60)
    task = asyncio.create_task(running.run())
    try:
        fingerprint = f"overdue_tasks:{fired.key}"

        async def has_insight() -> bool:
            return any(r.fingerprint == fingerprint for r in await seeded.insights())
        await wait_for(has_insight)

        monkeypatch.setenv("NEPTUNE_TEST_KEY", "sk-env-test-key")
        runtime = runtime_on(insight_db, server)
        caller = Caller.for_member(seeded.ws.workspace_id, seeded.ws.user_id, MemberRole.OWNER)
        conversation = await new_conversation(insight_db, seeded.ws)
        server.script(ToolCalls([Call("update_task", {"task_id": str(fired.record_id),
                                                      "status": "done"})]), Text("Done."))
        async with await runtime.send(caller, conversation, "I sent the contract") as turn:
            outcome = await turn.wait()
        assert outcome.status == "complete"
        assert await task_status(seeded, fired.record_id) == TaskStatus.DONE

        async def over() -> bool:
            return (await seeded.insight(fingerprint)).status == InsightStatus.EXPIRED
        await wait_for(over, seconds=15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def runtime_on(db: Database, server: ModelServer) -> Runtime:
    settings = settings_for(server)
    gateway = Gateway(retries=settings.model_retries, backoff=settings.retry_backoff)
    return Runtime(RuntimeDeps(db, gateway, load_catalog(), settings))


async def task_status(seed: Seed, task_id: uuid.UUID | None) -> TaskStatus | None:
    async with scoped_session(seed.sessions, seed.ws.scope) as session:
        return await session.scalar(sa.select(TodoHqTask.status).where(TodoHqTask.id == task_id))



def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEPTUNE_INSIGHT_SWEEP_SECONDS", raising=False)
    assert WorkerSettings().insight_sweep_seconds == 3600
    monkeypatch.setenv("NEPTUNE_INSIGHT_SWEEP_SECONDS", "900")
    assert WorkerSettings().insight_sweep_seconds == 900
    for bad in ("an hour", "-5", "nan"):
        monkeypatch.setenv("NEPTUNE_INSIGHT_SWEEP_SECONDS", bad)
        with pytest.raises(ValueError, match="NEPTUNE_INSIGHT_SWEEP_SECONDS"):
            WorkerSettings()


def test_every_trigger_is_a_tool_of_the_catalogue() -> None:
    catalog = load_catalog()
    assert sorted(t for t in TRIGGER_TOOLS if catalog.get(t) is None) == []
