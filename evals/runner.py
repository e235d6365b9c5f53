"""The runner: every case x (model x prompt version) cell x trial, each in a fresh clone.

`Harness` holds what trials share: the tool catalogue and its services, one gateway (caching
model responses on disk when a cache directory is given), the fixture server that clones
template databases, and each case's gold state (computed once per run: it depends on the case,
not on the model). `run()` schedules trials with bounded concurrency and returns the JSON
report's content; metrics are computed from the trial records by `evals.metrics`.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway, use_local_model
from assistant.grid_services import GatewayModelCall
from assistant.settings import RuntimeSettings
from evals import metrics
from evals.cache import TRIAL, CachingGateway, ResponseCache
from evals.fixtures import FixtureServer, Member, member_for, resolve
from evals.gold import GoldError, final_state, gold_state, prepare_clone
from evals.records import Check, RunInfo, RunReport, TrialRecord
from evals.schema import Case, ExpectedCall
from evals.scorers import Observation, Scored, judge, score
from evals.simuser import next_message, target_for
from evals.statediff import Row, diff
from evals.trial import Conversation, as_json
from prompts import TEMPLATES_DIR
from store.bootstrap import DatabaseUrls
from store.db import Database
from store.tenancy import scoped_session
from tools.catalog import load_catalog
from tools.grids.model import MODEL_SERVICE
from tools.knowledge.embedder import EMBEDDER_SERVICE, default_embedder
from tools.registry import ToolRegistry

TRIAL_SECONDS = 300.0
Progress = Callable[[TrialRecord], None]


@dataclass(frozen=True)
class RunConfig:
    models: Sequence[str]
    prompt_versions: Sequence[str] = ("v1",)
    trials: int = 1
    concurrency: int = 2
    cache_dir: Path | None = None
    judge_model: str | None = None
    user_model: str | None = None
    datasets: Sequence[str] = ()


@dataclass(frozen=True)
class Cell:
    model: str
    prompt_version: str


@dataclass
class Harness:
    urls: DatabaseUrls
    config: RunConfig
    settings: RuntimeSettings = field(default_factory=RuntimeSettings)
    registry: ToolRegistry = field(default_factory=load_catalog)
    progress: Progress | None = None

    def __post_init__(self) -> None:
        self.fixtures = FixtureServer(self.urls)
        self.cache = ResponseCache(self.config.cache_dir) if self.config.cache_dir else None
        self.gateway: Gateway = (
            CachingGateway(self.cache, retries=self.settings.model_retries,
                           backoff=self.settings.retry_backoff) if self.cache
            else Gateway(retries=self.settings.model_retries, backoff=self.settings.retry_backoff))
        self.embedder = default_embedder()
        self._gold: dict[str, asyncio.Task[dict[str, list[Row]]]] = {}
        if any(self.settings.route(m).model.startswith("neptune-local/")
               for m in self.config.models):
            from assistant.local.model import LocalModel

            use_local_model(LocalModel(self.registry, self.embedder.embed_blocking))

    def cells(self) -> list[Cell]:
        return [Cell(m, p) for m in self.config.models for p in self.config.prompt_versions]

    async def run(self, cases: Sequence[Case]) -> RunReport:
        started, clock = datetime.now(UTC), time.perf_counter()
        await self.fixtures.template("demo")
        slots = asyncio.Semaphore(self.config.concurrency)

        async def bounded(case: Case, cell: Cell, index: int) -> TrialRecord:
            async with slots:
                record = await self.trial(case, cell, index)
            if self.progress is not None:
                self.progress(record)
            return record

        jobs = [bounded(case, cell, index) for cell in self.cells() for case in cases
                for index in range(self.config.trials)]
        records = list(await asyncio.gather(*jobs))
        info = RunInfo(
            started_at=started.isoformat(), seconds=round(time.perf_counter() - clock, 2),
            datasets=list(self.config.datasets), models=list(self.config.models),
            prompt_versions=list(self.config.prompt_versions), trials=self.config.trials,
            concurrency=self.config.concurrency, cases=len(cases),
            cache={"hits": self.cache.hits, "misses": self.cache.misses} if self.cache else {},
            timings={"seeding_seconds": round(self.fixtures.seconds_seeding, 2)},
            tools={t.name: t.schema_hash for t in sorted(self.registry, key=lambda t: t.name)},
            prompts={v: prompt_hash(v) for v in self.config.prompt_versions})
        return RunReport(info=info, trials=records, metrics=metrics.compute(records))

    async def trial(self, case: Case, cell: Cell, index: int) -> TrialRecord:
        """One trial of `case` in `cell`; never raises (a failure is the record's verdict)."""
        TRIAL.set(index)
        record = TrialRecord(case_id=case.id, domain=case.domain, tags=list(case.tags),
                             model=cell.model, prompt_version=cell.prompt_version, trial=index)
        clock = time.perf_counter()
        try:
            await asyncio.wait_for(self._trial(case, cell, record), TRIAL_SECONDS)
        except GoldError as error:
            record.error = str(error)
            record.checks = [Check(name="gold", passed=False, detail=str(error))]
        except Exception as error:  # the harness's own failure must not end the run
            record.error = f"{type(error).__name__}: {error}"[:500]
            record.checks = [Check(name="harness", passed=False, detail=record.error)]
        record.passed = bool(record.checks) and all(c.passed for c in record.checks)
        record.seconds = round(time.perf_counter() - clock, 3)
        return record

    async def _trial(self, case: Case, cell: Cell, record: TrialRecord) -> None:
        # The gold state first: a case whose gold cannot be applied is reported as such.
        gold = await self.gold(case) if case.expect.state is not None else None
        member = member_for(case.fixture)
        clone = await self.fixtures.clone(case.fixture.name)
        try:
            baseline = await prepare_clone(clone, case, member)
            expected = await expected_calls(clone.database, member, case)
            settings = self.settings.model_copy(
                update={"model": cell.model, "prompt_version": cell.prompt_version,
                        "fallback_models": ()})
            talk = Conversation(self._deps(clone.database, settings), member.caller(), case)
            failure = await self._converse(talk, case, settings)
            seen = observe(talk, expected, failure)
            if gold is not None:
                assert case.expect.state is not None
                actual = await final_state(clone, member, baseline,
                                           case.expect.state.ignore_columns)
                seen.state_diff = diff(gold, actual)
        finally:
            await self.fixtures.drop(clone)
        answer = case.expect.answer
        if answer is not None and answer.rubric:
            seen.judge = await self._judge(answer.rubric, answer.judge_model, seen, settings)
        fill(record, seen, score(case, seen, self.registry))

    async def _converse(self, talk: Conversation, case: Case,
                        settings: RuntimeSettings) -> str | None:
        """Play the user's side; the first failure of the runtime itself, if any."""
        try:
            await talk.start()
            if case.user is None:
                for line in case.turns:
                    await talk.say(line)
                return None
            target = target_for(case.user.model or self.config.user_model or settings.model,
                                settings)
            text: str | None = case.user.opening
            for _ in range(case.user.max_turns):
                if text is None:
                    break
                await talk.say(text)
                text = await next_message(self.gateway, target, case.user, talk.seen.said)
        except Exception as error:
            return f"{type(error).__name__}: {error}"[:500]
        return None

    async def _judge(self, rubric: str, model: str | None, seen: Observation,
                     settings: RuntimeSettings) -> Check:
        name = model or self.config.judge_model
        if name is None:
            return Check(name="rubric", passed=False,
                         detail="no judge model (the case's judge_model or --judge-model)")
        return await judge(self.gateway, target_for(name, settings), rubric, seen)

    def gold(self, case: Case) -> asyncio.Task[dict[str, list[Row]]]:
        """The case's gold state, computed once per run and shared by its trials."""
        key = case.model_dump_json(include={"id", "fixture", "expect"})
        if key not in self._gold:
            services = {EMBEDDER_SERVICE: self.embedder}
            self._gold[key] = asyncio.ensure_future(
                gold_state(self.fixtures, case, self.registry, services))
        return self._gold[key]

    def _deps(self, database: Database, settings: RuntimeSettings) -> RuntimeDeps:
        deps = RuntimeDeps(database, self.gateway, self.registry, settings)
        deps.tool_services = {MODEL_SERVICE: GatewayModelCall(deps),
                              EMBEDDER_SERVICE: self.embedder}
        return deps


def prompt_hash(version: str) -> str:
    """A hash of a prompt version's template files, so a report names what it measured."""
    digest = hashlib.sha256()
    root = TEMPLATES_DIR / version
    for path in sorted(root.rglob("*.md")):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()[:12]


async def expected_calls(database: Database, member: Member, case: Case) -> list[ExpectedCall]:
    """The case's expected calls with `{lookup: ...}` resolved in this clone."""
    if not case.expect.tool_calls:
        return []
    async with scoped_session(database.sessions, member.scope) as session:
        return [ExpectedCall(name=c.name, args=await resolve(session, dict(c.args)))
                for c in case.expect.tool_calls]


def observe(talk: Conversation, expected: list[ExpectedCall],
            failure: str | None) -> Observation:
    seen = talk.seen
    problems = [p for p in (failure, *seen.errors) if p]
    return Observation(
        tool_uses=list(seen.uses.values()), transcript=list(seen.said),
        expected_calls=expected, tokens=seen.tokens, cost_usd=round(seen.cost_usd, 6),
        latency_ms=max(seen.turn_ms, default=0), failure="; ".join(problems) or None,
        turn_ms=list(seen.turn_ms))


def fill(record: TrialRecord, seen: Observation, scored: Scored) -> None:
    record.checks = list(scored.checks)
    record.transcript = list(seen.transcript)
    record.tool_uses = [u.model_copy(update={"arguments": as_json(u.arguments)})
                        for u in seen.tool_uses]
    record.diff = [d.describe() for d in seen.state_diff or []]
    record.selection = scored.calls.selection if scored.calls else None
    record.arguments = scored.calls.arguments if scored.calls else None
    record.state_match, record.approvals_ok = scored.state_match, scored.approvals_ok
    record.tokens, record.cost_usd = seen.tokens, seen.cost_usd
    record.latency_ms, record.turn_ms = seen.latency_ms, list(seen.turn_ms)


