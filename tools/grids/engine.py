"""The grid engine: runs an execution one node at a time, each step in its own transaction.

Claiming. A run is taken with one conditional update (`pending`, or `waiting` with `resume_at`
due, -> `running`), so two workers never run the same execution at once. Every step then ends
with a conditional save of the state (`WHERE status = 'running'`): when `cancel` has moved the
run meanwhile, the save matches nothing, the step's transaction rolls back (its database effects
with it) and the engine stops. That is the "next step boundary" a cancel takes effect at.

Steps. A step decides what to skip, runs the next ready node and records an `execution_steps`
row (input, output with the node's log lines, error, timing) in the same transaction as the
node's database effects and the saved state, so a step happens entirely or not at all. Calls
that leave the database (ai, webhook, api) are split: a step records the call as in flight and
commits; the call runs with no transaction open; a second transaction records its outcome.

Waiting. A delay stores `resume_at` and the status `waiting`, and returns: the worker's
`grid_resume` claims it when due. An action whose tool call needs approval stores the pending
action and the status `paused`; `after_decision` (called by the approval flow once a person has
decided and the stored call has run or been rejected) records the outcome and sets the run
`waiting` with `resume_at = now`. All state lives in `grid_executions.context`, so any process
may continue a run.

Failures. A failing node fails the run, with the node and message recorded, unless an `error`
edge leaves the node: then the error edge carries `{"error", "node"}` on and the run goes on.
A rejected approval is a failure of its action node like any other. Every run has a step limit
(`settings.max_steps`, default 200, at most 1000) on top of each loop's own bound.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.grids import GridExecution, GridRunStatus, NodeType, StepStatus
from store.repositories.base import utcnow
from store.repositories.grids import ExecutionStepRepository, GridExecutionRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.grids import effects
from tools.grids import expressions as ex
from tools.grids.model import ModelPrompt
from tools.grids.nodes import PURE, NodeCall, NodeError, Produced
from tools.grids.safe_http import HttpRequest
from tools.grids.specs import HttpConfig, NodeSpec, config_of
from tools.grids.state import Failure, LoopDone, LoopError, Planner, RunState, Waiting
from tools.grids.validation import default_registry
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)
MAX_OUTPUT_CHARS = 200_000
# What a node's own mistakes raise; anything else is a bug or a database failure.
NODE_ERRORS = (NodeError, ex.ExpressionError, ValueError, TypeError, ArithmeticError)
Progress = Literal["continue", "stop"]


class _Stopped(Exception):
    """The run left `running` (it was cancelled) while a step was in progress."""


@dataclass(frozen=True)
class _Call:
    """A call to make outside any transaction, and what the step needs to record it."""

    node: NodeSpec
    step_id: uuid.UUID
    input: Any
    request: HttpRequest | ModelPrompt
    config: Any
    started: datetime


@dataclass
class Engine:
    """Runs executions of one workspace. `now` is the clock claims compare `resume_at` with
    (the worker's); `services` reach tools and the ai node; `registry` defaults to the
    service's tool catalogue."""

    sessions: async_sessionmaker[AsyncSession]
    scope: WorkspaceScope
    services: Mapping[str, Any] = field(default_factory=dict)
    registry: ToolRegistry | None = None
    now: datetime | None = None

    def clock(self) -> datetime:
        return self.now or utcnow()

    def tools(self) -> ToolRegistry:
        return self.registry or default_registry()

    async def advance(self, execution_id: uuid.UUID) -> GridExecution | None:
        """Claim the execution and run it until it ends or has to wait; its row afterwards, or
        None when it could not be claimed (not pending, not due, or another worker has it)."""
        async with scoped_session(self.sessions, self.scope) as session:
            claimed = await GridExecutionRepository(session, self.scope).claim(
                execution_id, self.clock())
        if claimed is None:
            return None
        try:
            await self._drive(execution_id)
        except Exception:
            log.exception("grid execution %s failed unexpectedly", execution_id)
            await self._crashed(execution_id)
        async with scoped_session(self.sessions, self.scope) as session:
            return await GridExecutionRepository(session, self.scope).get(execution_id)

    async def _drive(self, execution_id: uuid.UUID) -> None:
        while True:
            progress = await self._in_step(execution_id, None)
            if isinstance(progress, _Call):
                progress = await self._in_step(
                    execution_id, (progress, await _perform(self.services, progress)))
            if progress == "stop":
                return

    async def _in_step(self, execution_id: uuid.UUID,
                       call: tuple[_Call, Produced | str] | None) -> Progress | _Call:
        """One step in its own transaction: the next node, or recording a finished call."""
        try:
            async with scoped_session(self.sessions, self.scope) as session:
                stepper = await _Stepper.load(self, session, execution_id)
                if stepper is None:
                    return "stop"
                if call is not None:
                    return await stepper.finish_call(*call)
                return await stepper.step()
        except _Stopped:
            return "stop"

    async def _crashed(self, execution_id: uuid.UUID) -> None:
        """A bug ended the run: fail it visibly rather than leave it `running` forever."""
        async with scoped_session(self.sessions, self.scope) as session:
            runs = GridExecutionRepository(session, self.scope)
            run = await runs.get(execution_id)
            if run.status == GridRunStatus.RUNNING:
                await runs.finish(execution_id, GridRunStatus.FAILED, expected=[run.status],
                                  error={"message": "the grid engine failed unexpectedly"})


async def _perform(services: Mapping[str, Any], call: _Call) -> Produced | str:
    """The external call's result, or its failure message."""
    try:
        if isinstance(call.request, HttpRequest):
            return await effects.perform_http(call.request, call.config)
        return await effects.perform_ai(services, call.request, call.config)
    except NodeError as error:
        return str(error)


class _Stepper:
    """One step of one run, inside one transaction."""

    def __init__(self, engine: Engine, session: AsyncSession, run: GridExecution) -> None:
        self.engine, self.session, self.run = engine, session, run
        self.runs = GridExecutionRepository(session, engine.scope)
        self.steps = ExecutionStepRepository(session, engine.scope)
        self.state = RunState.model_validate(run.context)
        self.planner = Planner(self.state)

    @classmethod
    async def load(cls, engine: Engine, session: AsyncSession,
                   execution_id: uuid.UUID) -> _Stepper | None:
        run = await GridExecutionRepository(session, engine.scope).get(execution_id)
        return cls(engine, session, run) if run.status == GridRunStatus.RUNNING else None

    # -- one step -----------------------------------------------------------------------------
    async def step(self) -> Progress | _Call:
        if self.state.failure is not None:
            return await self.fail_run(self.state.failure)
        if self.state.waiting is not None:
            return await self.resume(self.state.waiting)
        try:
            skipped, loops = self.planner.settle()
        except LoopError as error:
            return await self.fail_run(Failure(node=error.loop, message=f"loop: {error}"))
        await self.record_skips(skipped)
        for done in loops:
            await self.close(done.step_id, StepStatus.COMPLETED, {"result": done.output})
        node_id = self.planner.next_node()
        if node_id is None:
            return await self.complete_run()
        limit = self.state.graph.settings.max_steps
        if self.state.steps >= limit:
            return await self.fail_run(Failure(message=f"the run reached its limit of {limit} "
                                                       "steps"))
        return await self.run_node(self.planner.graph.nodes[node_id])

    async def run_node(self, node: NodeSpec) -> Progress | _Call:
        started = utcnow()
        node_input = self.planner.input_for(node.id)
        self.state.steps += 1
        count = self.state.runs.get(node.id, 0)
        self.state.runs[node.id] = count + 1
        step = self.effect_step(node, node_input, f"grid:{self.run.id}:{node.id}:{count}")
        try:
            return await self.dispatch(step, started)
        except NODE_ERRORS as error:
            if not isinstance(error, NodeError | ex.ExpressionError):
                log.warning("grid node %s failed in run %s", node.id, self.run.id, exc_info=True)
            return await self.node_failed(node, node_input, started, str(error))

    def effect_step(self, node: NodeSpec, node_input: Any, key: str) -> effects.Step:
        settings = self.state.graph.settings
        return effects.Step(
            session=self.session, scope=self.engine.scope, run=self.run, node=node,
            config=config_of(node), input=node_input,
            env=self.planner.env(node.id, node_input), key=key, services=self.engine.services,
            registry=self.engine.tools(),
            approval_ttl=timedelta(hours=settings.approval_ttl_hours),
        )

    async def dispatch(self, step: effects.Step, started: datetime) -> Progress | _Call:
        kind = step.node.type
        if kind in PURE:
            sources = {e.source: self.state.outputs.get(e.source)
                       for e in self.planner.graph.incoming(step.node.id)
                       if self.planner.active(e)}
            call = NodeCall(step.node, step.config, step.input, step.env, sources)
            return await self.node_done(step.node, step.input, started, PURE[kind](call))
        if kind == NodeType.LOOP:
            return await self.start_loop(step, started)
        if kind == NodeType.DELAY:
            return await self.start_delay(step, started)
        if kind == NodeType.ACTION:
            outcome = await effects.action(step)
            if isinstance(outcome, effects.Approval):
                return await self.pause(step, outcome, started)
            return await self.node_done(step.node, step.input, started, outcome)
        if kind in (NodeType.EMAIL, NodeType.NOTIFICATION):
            send = effects.email if kind == NodeType.EMAIL else effects.notification
            return await self.node_done(step.node, step.input, started, await send(step))
        return await self.begin_call(step, started)

    # -- outcomes -----------------------------------------------------------------------------
    async def node_done(self, node: NodeSpec, node_input: Any, started: datetime,
                        produced: Produced, step_id: uuid.UUID | None = None) -> Progress:
        size = len(json.dumps(produced.output, default=str))
        if size > MAX_OUTPUT_CHARS:
            return await self.node_failed(node, node_input, started, f"the output is {size} "
                                          f"characters; the limit is {MAX_OUTPUT_CHARS}", step_id)
        try:
            taken = self.planner.complete(node.id, produced.output, produced.decision)
        except ex.ExpressionError as error:
            return await self.node_failed(node, node_input, started,
                                          f"edge condition: {error}", step_id)
        logs = [*produced.logs, *([f"took edges {', '.join(taken)}"] if taken else [])]
        output = {"result": produced.output, "logs": logs}
        await self.write_step(node, node_input, started, StepStatus.COMPLETED, step_id,
                              output=output)
        await self.save()
        return "continue"

    async def node_failed(self, node: NodeSpec, node_input: Any, started: datetime,
                          message: str, step_id: uuid.UUID | None = None) -> Progress:
        handled = self.planner.fail(node.id, message)
        await self.write_step(node, node_input, started, StepStatus.FAILED, step_id,
                              error={"message": message})
        if handled:
            await self.save()
            return "continue"
        return await self.fail_run(Failure(node=node.id, message=message))

    async def write_step(self, node: NodeSpec, node_input: Any, started: datetime,
                         status: StepStatus, step_id: uuid.UUID | None, *,
                         output: dict[str, Any] | None = None,
                         error: dict[str, Any] | None = None) -> uuid.UUID:
        if step_id is not None:
            await self.close(step_id, status, output, error)
            return step_id
        row = await self.steps.record(
            self.run.id, node.id, status=status, node_name=node.label or node.id,
            node_type=node.type, input=boxed(node_input), output=output, error=error,
            started_at=started, completed_at=None if status == StepStatus.RUNNING else utcnow(),
        )
        return row.id

    async def close(self, step_id: uuid.UUID, status: StepStatus,
                    output: Mapping[str, Any] | None = None,
                    error: Mapping[str, Any] | None = None) -> None:
        await self.steps.complete(step_id, status, output=output, error=error)

    async def record_skips(self, skipped: list[str]) -> None:
        now = utcnow()
        for node_id in skipped:
            node = self.planner.graph.nodes[node_id]
            await self.steps.record(self.run.id, node_id, status=StepStatus.SKIPPED,
                                    node_name=node.label or node_id, node_type=node.type,
                                    started_at=now, completed_at=now)

    # -- waiting --------------------------------------------------------------------------------
    async def pause(self, step: effects.Step, approval: effects.Approval,
                    started: datetime) -> Progress:
        pending = approval.pending
        step_id = await self.write_step(
            step.node, step.input, started, StepStatus.RUNNING, None,
            output={"awaiting_approval": str(pending.id),
                    "logs": [f"{pending.tool_name} waits for approval: {pending.title}"]})
        self.state.waiting = Waiting(node=step.node.id, kind="approval", step_id=step_id,
                                     input=step.input, pending_id=pending.id)
        await self.save(GridRunStatus.PAUSED)
        return "stop"

    async def start_delay(self, step: effects.Step, started: datetime) -> Progress:
        until = effects.delay_until(step, self.engine.clock())
        step_id = await self.write_step(step.node, step.input, started, StepStatus.RUNNING, None,
                                        output={"logs": [f"waiting until {until.isoformat()}"]})
        self.state.waiting = Waiting(node=step.node.id, kind="delay", step_id=step_id,
                                     input=step.input, until=until)
        await self.save(GridRunStatus.WAITING, resume_at=until)
        return "stop"

    async def resume(self, waiting: Waiting) -> Progress | _Call:
        node = self.planner.graph.nodes[waiting.node]
        if waiting.kind == "approval":  # only `after_decision` moves a paused run on
            await self.save(GridRunStatus.PAUSED)
            return "stop"
        if waiting.kind == "call":  # a process died during the call: make it again
            step = self.effect_step(node, waiting.input, self.call_key(node.id))
            return await self.call_for(step, utcnow(), waiting.step_id)
        until = waiting.until or utcnow()
        if until > self.engine.clock():
            await self.save(GridRunStatus.WAITING, resume_at=until)
            return "stop"
        self.state.waiting = None
        produced = Produced(waiting.input, [f"waited until {until.isoformat()}"])
        return await self.node_done(node, waiting.input, utcnow(), produced, waiting.step_id)

    def call_key(self, node_id: str) -> str:
        return f"grid:{self.run.id}:{node_id}:{self.state.runs.get(node_id, 1) - 1}"

    async def start_loop(self, step: effects.Step, started: datetime) -> Progress:
        step_id = await self.write_step(step.node, step.input, started, StepStatus.RUNNING, None)
        try:
            done: LoopDone | None = self.planner.start_loop(step.node.id, step_id, step.input)
        except ex.ExpressionError as error:
            return await self.node_failed(step.node, step.input, started, str(error), step_id)
        if done is not None:
            await self.close(step_id, StepStatus.COMPLETED, {"result": done.output})
        await self.save()
        return "continue"

    # -- calls outside the transaction --------------------------------------------------------
    async def begin_call(self, step: effects.Step, started: datetime) -> _Call:
        return await self.call_for(step, started, None)

    async def call_for(self, step: effects.Step, started: datetime,
                       step_id: uuid.UUID | None) -> _Call:
        if isinstance(step.config, HttpConfig):
            request: HttpRequest | ModelPrompt = effects.http_request(step)
        else:
            caller = await effects.run_caller(self.session, self.engine.scope, self.run)
            request = effects.model_prompt(step, caller)
        if step_id is None:
            step_id = await self.write_step(step.node, step.input, started, StepStatus.RUNNING,
                                            None)
        self.state.waiting = Waiting(node=step.node.id, kind="call", step_id=step_id,
                                     input=step.input)
        await self.save()
        return _Call(step.node, step_id, step.input, request, step.config, started)

    async def finish_call(self, call: _Call, outcome: Produced | str) -> Progress:
        waiting = self.state.waiting
        if waiting is None or waiting.kind != "call" or waiting.step_id != call.step_id:
            return "stop"
        self.state.waiting = None
        if isinstance(outcome, str):
            return await self.node_failed(call.node, call.input, call.started, outcome,
                                          call.step_id)
        return await self.node_done(call.node, call.input, call.started, outcome, call.step_id)

    # -- ending ---------------------------------------------------------------------------------
    async def save(self, status: GridRunStatus = GridRunStatus.RUNNING,
                   resume_at: datetime | None = None) -> None:
        saved = await self.runs.transition(self.run.id, [GridRunStatus.RUNNING],
                                           context=self.state.dump(), status=status,
                                           resume_at=resume_at)
        if saved is None:
            raise _Stopped

    async def complete_run(self) -> Progress:
        await self.save()
        await self.runs.finish(self.run.id, GridRunStatus.COMPLETED,
                               result=self.planner.result(), expected=[GridRunStatus.RUNNING])
        return "stop"

    async def fail_run(self, failure: Failure) -> Progress:
        self.state.failure = failure
        await self.save()
        await self.runs.finish(self.run.id, GridRunStatus.FAILED,
                               error=failure.model_dump(exclude_none=True),
                               expected=[GridRunStatus.RUNNING])
        return "stop"


def boxed(value: Any) -> dict[str, Any]:
    """A step's input as the JSON object the column holds."""
    return dict(value) if isinstance(value, Mapping) else {"value": value}
