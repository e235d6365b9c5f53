"""Running the detectors over one workspace, and the worker's handler that does it.

A sweep first expires insights whose time is up, then runs each detector in a savepoint of its
own (one failing detector costs only its own findings, and its earlier insights are kept), and
stores what each found with `InsightRepository.upsert`: the fingerprint de-duplicates, the hash
of the finding's material state decides whether a dismissed insight comes back. An open insight
its detector no longer reports is over and becomes expired (`retire`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.agent_runs import RUNTIME_SERVICE
from assistant.insights import detectors as _detectors  # noqa: F401 - registers them
from assistant.insights.model import BudgetOf, DetectorContext, Finding
from assistant.insights.registry import DETECTORS, Detector
from assistant.settings import RuntimeSettings
from store.models.core import Workspace
from store.repositories.ai import InsightRepository, content_hash
from store.repositories.insights import InsightSweepRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.jobs import JobContext

log = logging.getLogger("neptune.insights")

@dataclass
class SweepReport:
    """What one sweep found per detector, and which detectors failed."""

    found: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    expired: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"found": self.found, "failed": self.failed, "expired": self.expired}


def fingerprint(detector: str, finding: Finding) -> str:
    return f"{detector}:{finding.key}"


async def store_findings(
    repo: InsightRepository, name: str, findings: Iterable[Finding], now: datetime
) -> list[str]:
    """Upsert each finding as an insight; returns their fingerprints."""
    stored = []
    for finding in findings:
        key = fingerprint(name, finding)
        await repo.upsert(
            key, detector=name, type=finding.type, title=finding.title[:300],
            data=finding.data, data_hash=content_hash(finding.state),
            description=finding.description, priority=finding.priority,
            actions=[a.as_json() for a in finding.actions], record_type=finding.record_type,
            record_id=finding.record_id, user_id=finding.user_id,
            expires_at=finding.expiry(now),
        )
        stored.append(key)
    return stored


async def run_detector(
    ctx: DetectorContext, repo: InsightRepository, name: str, detect: Detector
) -> int:
    """Run one detector and store its findings in a savepoint; returns how many it found."""
    async with ctx.session.begin_nested():
        findings = await detect(ctx)
        stored = await store_findings(repo, name, findings, ctx.now)
        await repo.retire(name, stored)
    return len(stored)


async def sweep_workspace(
    session: AsyncSession, scope: WorkspaceScope, now: datetime, *,
    budget_of: BudgetOf | None = None, only: Iterable[str] | None = None,
) -> SweepReport:
    """Run the detectors (all, or `only` these) over one workspace as of `now`."""
    repo = InsightRepository(session, scope)
    report = SweepReport(expired=await repo.expire(now=now))
    ctx = DetectorContext(session, scope, now, budget_of)
    chosen = DETECTORS if only is None else {n: DETECTORS[n] for n in only}
    for name, detect in chosen.items():
        try:
            report.found[name] = await run_detector(ctx, repo, name, detect)
        except Exception:
            log.exception("insight detector %s failed in workspace %s", name,
                          scope.workspace_id)
            report.failed.append(name)
    return report


def budget_from(services: Mapping[str, Any]) -> BudgetOf:
    """The daily budget rule turns use, from the runtime's settings when the worker has them."""
    deps = services.get(RUNTIME_SERVICE)
    settings = getattr(deps, "settings", None)
    rules = settings if isinstance(settings, RuntimeSettings) else RuntimeSettings()
    return lambda workspace: rules.daily_budget(workspace.subscription_tier,
                                                _settings_of(workspace))


def _settings_of(workspace: Workspace) -> dict[str, Any]:
    return dict(workspace.settings or {})


async def sweep_job(job: JobContext, workspace_id: uuid.UUID, _record_id: uuid.UUID) -> None:
    """The worker's handler for due kind `insights` (the record is the workspace itself)."""
    scope = WorkspaceScope(workspace_id)
    async with scoped_session(job.sessions, scope) as session:
        sweeps = InsightSweepRepository(session, scope)
        sweep = await sweeps.started(job.now)
        report = await sweep_workspace(session, scope, job.now,
                                       budget_of=budget_from(job.services))
        await sweeps.finished(sweep.id, report.as_json())
    log.info("insight sweep of %s: %s", workspace_id, report.as_json())
