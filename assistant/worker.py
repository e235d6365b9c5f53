"""The worker: finds due work in the database and runs it on procrastinate's job queue.

What is due lives in the records themselves (see `tools.jobs`). Each worker process:
- sweeps: calls `neptune_due_work(now)` every `sweep_seconds`, and at once when a committed
  transaction nudged it (LISTEN on `neptune_due`), with `now` from its clock (a test's clock can
  be moved by hand);
- defers one `neptune.handle` job per due record, with a queueing lock (`kind:record`) so two
  sweeps queue it once, and a lock of the same name so two workers never run it side by side;
- runs those jobs (procrastinate's worker, in the same process) by calling the handler for the
  record's kind. The handler claims its record with a conditional update in the record's own
  workspace, so however many workers and sweeps see a record, its effect happens once.
A handler that raises is retried by procrastinate (a few times, backing off); a record still due
after that is picked up again by a later sweep.

Insight sweeps (`assistant.insights`) are due per workspace rather than per record:
`neptune_due_insight_sweeps` lists workspaces not swept for `insight_sweep_seconds`
(`NEPTUNE_INSIGHT_SWEEP_SECONDS`, default an hour; a workspace's own `insight_sweep_seconds`
setting wins) or where a trigger tool (a deal's stage, a new invoice) succeeded since their last
sweep; each becomes an `insights` job whose record is the workspace itself, with the same
queueing lock as any other job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import procrastinate
import sqlalchemy as sa
from procrastinate.exceptions import AlreadyEnqueued
from sqlalchemy.engine import URL

from assistant.insights.triggers import SWEEP_KIND, TRIGGER_TOOLS
from store.bootstrap import connect
from store.db import Database
from tools.jobs import NOTIFY_CHANNEL, Handler, JobContext
from tools.knowledge.embedder import EMBEDDER_SERVICE

log = logging.getLogger("neptune.worker")

Clock = Callable[[], datetime]
QUEUE_SCHEMA = "procrastinate"
DUE_WORK = sa.text(
    "SELECT kind, workspace_id, record_id FROM neptune_due_work(:at, :model, :n)"
)
DUE_INSIGHT_SWEEPS = sa.text(
    "SELECT workspace_id FROM neptune_due_insight_sweeps(:at, :every, :triggers, :n)"
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def default_handlers() -> dict[str, Handler]:
    """Every kind of due work `neptune_due_work` lists, and who does it."""
    from assistant.agent_runs import run_agent_execution, run_due_schedule, run_workflow_execution
    from assistant.channels.slack_jobs import slack_job
    from assistant.insights.sweep import sweep_job
    from tools.content import publish_scheduled_post
    from tools.grids.worker import HANDLERS as GRID_HANDLERS
    from tools.knowledge.indexing import embed_item
    from tools.marketing.delivery import fire_campaign

    return {
        "slack": slack_job,
        "campaign": fire_campaign, "blog_post": publish_scheduled_post,
        "agent_run": run_agent_execution, "agent_schedule": run_due_schedule,
        "workflow_run": run_workflow_execution, "embed": embed_item, SWEEP_KIND: sweep_job,
        **GRID_HANDLERS,
    }


def conninfo(url: URL) -> str:
    """A libpq connection URI for procrastinate's psycopg pool (the same role and database)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def insight_interval() -> float:
    """`NEPTUNE_INSIGHT_SWEEP_SECONDS`: how often each workspace's insights are swept (default
    an hour; at least a minute is used; 0 sweeps only workspaces that set their own interval)."""
    raw = os.environ.get("NEPTUNE_INSIGHT_SWEEP_SECONDS") or "3600"
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < 10**9:
        raise ValueError(f"NEPTUNE_INSIGHT_SWEEP_SECONDS must be a number of seconds, not {raw!r}")
    return seconds


@dataclass
class WorkerSettings:
    sweep_seconds: float = 10.0
    batch: int = 200
    concurrency: int = 4
    name: str = "neptune-worker"
    insight_sweep_seconds: float = field(default_factory=insight_interval)


@dataclass
class Sweep:
    """What one sweep saw and queued (for logs and tests)."""

    due: int = 0
    queued: int = 0
    kinds: dict[str, int] = field(default_factory=dict)


class Worker:
    """One worker process's share of the background work (see the module docstring)."""

    def __init__(
        self, database: Database, app_url: URL, *, services: Mapping[str, Any] | None = None,
        handlers: Mapping[str, Handler] | None = None, clock: Clock = utcnow,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.database = database
        self.app_url = app_url
        self.services = dict(services or {})
        self.handlers = dict(handlers if handlers is not None else default_handlers())
        self.clock = clock
        self.settings = settings or WorkerSettings()
        self.wake = asyncio.Event()
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            conninfo=conninfo(app_url),
            kwargs={"options": f"-c search_path={QUEUE_SCHEMA}"},
            min_size=1, max_size=max(2, self.settings.concurrency + 1),
        ))
        self.handle_task = self.app.task(
            name="neptune.handle", retry=procrastinate.RetryStrategy(
                max_attempts=4, exponential_wait=2),
        )(self._handle)

    # -- the job ---------------------------------------------------------------------------------

    async def _handle(self, kind: str, workspace_id: str, record_id: str) -> None:
        handler = self.handlers.get(kind)
        if handler is None:
            log.warning("no handler for due work of kind %s; skipped", kind)
            return
        job = JobContext(self.database.sessions, self.clock(), self.services)
        await handler(job, uuid.UUID(workspace_id), uuid.UUID(record_id))

    # -- sweeping --------------------------------------------------------------------------------

    def embedding_model(self) -> str | None:
        embedder = self.services.get(EMBEDDER_SERVICE)
        name = getattr(embedder, "name", None)
        return name if isinstance(name, str) else None

    async def sweep(self) -> Sweep:
        """Queue a job for every due record this worker has a handler for."""
        async with self.database.sessions() as session:
            due = (await session.execute(DUE_WORK, {
                "at": self.clock(), "model": self.embedding_model(), "n": self.settings.batch,
            })).all()
        rows = [(str(k), w, r) for k, w, r in due] + await self._due_insight_sweeps()
        result = Sweep(due=len(rows))
        for kind, workspace_id, record_id in rows:
            if kind not in self.handlers:
                continue
            result.kinds[kind] = result.kinds.get(kind, 0) + 1
            result.queued += await self._queue(kind, workspace_id, record_id)
        return result

    async def _due_insight_sweeps(self) -> list[tuple[str, uuid.UUID, uuid.UUID]]:
        """Workspaces whose insights are due a sweep, as (kind, workspace, record) rows."""
        if SWEEP_KIND not in self.handlers:
            return []
        async with self.database.sessions() as session:
            found = (await session.execute(DUE_INSIGHT_SWEEPS, {
                "at": self.clock(), "every": timedelta(seconds=self.settings.insight_sweep_seconds),
                "triggers": sorted(TRIGGER_TOOLS), "n": self.settings.batch,
            })).scalars().all()
        return [(SWEEP_KIND, workspace_id, workspace_id) for workspace_id in found]

    async def _queue(self, kind: str, workspace_id: uuid.UUID, record_id: uuid.UUID) -> int:
        key = f"{kind}:{record_id}"
        try:
            await self.handle_task.configure(lock=key, queueing_lock=key).defer_async(
                kind=kind, workspace_id=str(workspace_id), record_id=str(record_id))
        except AlreadyEnqueued:
            return 0
        return 1

    async def sweep_forever(self) -> None:
        """Sweep every `sweep_seconds`, or sooner when nudged."""
        while True:
            try:
                found = await self.sweep()
                if found.queued:
                    log.info("queued %d due job(s): %s", found.queued, found.kinds)
            except (OSError, sa.exc.SQLAlchemyError) as exc:  # pool timeouts too
                log.warning("sweep failed, will retry: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), self.settings.sweep_seconds)
            self.wake.clear()

    # -- running ---------------------------------------------------------------------------------

    async def run_once(self) -> Sweep:
        """Sweep once and run every queued job, then return (for cron-style use and tests)."""
        async with self.app.open_async():
            found = await self.sweep()
            await self.app.run_worker_async(
                concurrency=self.settings.concurrency, name=self.settings.name, wait=False,
                install_signal_handlers=False, listen_notify=False, delete_jobs="successful",
            )
        return found

    async def run(self) -> None:
        """Listen for nudges, sweep and run jobs until cancelled."""
        listener = await connect(self.app_url)
        try:
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake.set())
            async with self.app.open_async(), asyncio.TaskGroup() as group:
                group.create_task(self.sweep_forever())
                group.create_task(self.app.run_worker_async(
                    concurrency=self.settings.concurrency, name=self.settings.name,
                    install_signal_handlers=False, listen_notify=True,
                    delete_jobs="successful", fetch_job_polling_interval=2.0,
                ))
        finally:
            await listener.close()
