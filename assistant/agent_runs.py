"""Agents that really run: an agent's run is a conversation of its own, driven through the chat
runtime, and the worker handlers that start runs.

`RuntimeAgentRunner` is the `tools.agents.runner.AgentRunner` the engines in `tools/` use. A run's
first turn opens a conversation owned by the member the run acts as, whose `context["run"]`
holds the agent's system prompt and the only tools it may use, and whose `model` is the agent's
(see `assistant.workspace.RunOverrides`). Each turn is then an ordinary `Runtime.send`: the same
gateway, tool runner, approval policy, events and transcript as a chat, so an agent can do
nothing its member could not, and a tool outside its list is neither offered nor executed. After
the turn, its model calls become `agent_logs` rows (read back from the stored transcript) and the
actions it left awaiting approval are stamped with the agent (and team or workflow run).

A run waiting for approval stays `running`. Because the overrides live on the conversation, a
person approving from any channel continues the run with the agent's own prompt and tools;
`decide_agent_action` does that and then settles the execution (and a paused workflow step).

Handlers (`tools.jobs.Handler`; `job.services["runtime"]` must hold the `RuntimeDeps`):
`run_agent_execution` (kind `agent_run`), `run_due_schedule` (`agent_schedule`),
`run_workflow_execution` (`workflow_run`).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

import prompts
from assistant.deps import RuntimeDeps
from assistant.gateway import provider_of
from assistant.runtime import MAX_MESSAGE_CHARS, Runtime
from assistant.turn import TurnOutcome
from store.errors import InvalidArgument
from store.models.agents import ExecutionStatus
from store.models.ai import AiConversation, AiMessage, Channel, MessageRole
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentLogRepository,
    AgentRepository,
)
from store.repositories.ai import ConversationRepository, MessageRepository
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.agents.common import NOT_FOR_AGENTS, AgentConfig
from tools.agents.execution import (
    claim,
    finish_execution,
    fire_schedule,
    task_text,
)
from tools.agents.runner import AgentTask, TurnReport
from tools.context import Caller
from tools.jobs import JobContext
from tools.orchestration.common import TEAM_RUN_SERVICE
from tools.orchestration.engine import abandon_workflow, resume_after_step, run_team, run_workflow
from tools.orchestration.teams import TEAM_TOOLS
from tools.registry import ToolRegistry

log = logging.getLogger(__name__)
RUNTIME_SERVICE = "runtime"
SUMMARY_CHARS = 500
TRANSCRIPT_ROWS = 500


class RuntimeAgentRunner:
    """Runs agent turns through the chat runtime (one `Runtime.send` per turn)."""

    def __init__(self, deps: RuntimeDeps) -> None:
        self.deps = deps

    async def turn(self, task: AgentTask, text: str,
                   conversation_id: uuid.UUID | None = None) -> TurnReport:
        if conversation_id is None:
            conversation_id = await self._open(task)
        since = await self.last_seq(task.caller, conversation_id)
        try:
            outcome = await self._converse(task, conversation_id, text)
        except InvalidArgument as error:
            return TurnReport.failed(str(error), conversation_id)
        return await self.record(task, conversation_id, since, outcome)

    # -- the run's conversation ---------------------------------------------------------------
    async def _open(self, task: AgentTask) -> uuid.UUID:
        config = AgentConfig.of(task.agent.config)
        tools = [t for t in config.tools if t not in NOT_FOR_AGENTS]
        if task.team is not None:
            tools += [t.name for t in TEAM_TOOLS]
        system = self._system_prompt(task, config)
        ref = f"agent:{task.agent.id}#{hashlib.sha256(system.encode()).hexdigest()[:12]}"
        async with scoped_session(self.deps.database.sessions, task.caller.scope) as session:
            row: AiConversation = await ConversationRepository(session, task.caller.scope).create(
                user_id=task.caller.user_id, model=config.model, channel=Channel.API,
                title=f"{task.agent.name} · run {task.execution_id.hex[:8]}",
                context={"run": {"system_prompt": system, "prompt_ref": ref, "tools": tools},
                         "agent_id": str(task.agent.id),
                         "agent_execution_id": str(task.execution_id)},
            )
        return row.id

    def _system_prompt(self, task: AgentTask, config: AgentConfig) -> str:
        """The agent's own instructions, how it runs, and the tool rules every turn follows."""
        agent = task.agent
        own = config.system_prompt or f"You are {agent.name}. {agent.description or ''}".strip()
        rules = prompts.load("tool_rules", self.deps.settings.prompt_version).text
        today = datetime.now(UTC).date().isoformat()
        return (f"{own}\n\nYou are running as the agent {agent.name!r}, started {task.origin}."
                " Nobody reads along while you work: do the task with your tools, then answer"
                " with a short report of what you did, what you found and what is left."
                f" Today is {today} (UTC).\n\n{rules}")

    def _deps_for(self, task: AgentTask) -> RuntimeDeps:
        """A coordinator's turns also know `hand_off_task` and the team run it serves."""
        if task.team is None:
            return self.deps
        registry = ToolRegistry()
        for tool in (*self.deps.registry, *TEAM_TOOLS):
            registry.register(tool)
        return replace(self.deps, registry=registry,
                       tool_services={**self.deps.tool_services, TEAM_RUN_SERVICE: task.team})

    async def _converse(self, task: AgentTask, conversation_id: uuid.UUID,
                        text: str) -> TurnOutcome:
        runtime = Runtime(self._deps_for(task))
        turn = await runtime.send(task.caller, conversation_id, text[:MAX_MESSAGE_CHARS])
        async with turn:
            return await turn.wait()

    async def last_seq(self, caller: Caller, conversation_id: uuid.UUID) -> int:
        async with scoped_session(self.deps.database.sessions, caller.scope) as session:
            return await MessageRepository(session, caller.scope).last_seq(conversation_id)

    # -- what the turn did ----------------------------------------------------------------------
    async def record(self, task: AgentTask, conversation_id: uuid.UUID, since: int,
                     outcome: TurnOutcome) -> TurnReport:
        """One `agent_logs` row per model call of the turn, the agent stamped on the actions it
        left awaiting approval, and the turn's report."""
        scope = task.caller.scope
        async with scoped_session(self.deps.database.sessions, scope) as session:
            rows = await MessageRepository(session, scope).after(conversation_id, since,
                                                                 limit=TRANSCRIPT_ROWS)
            calls = model_calls(rows)
            logs = [_log_row(task, row, read) for row, read in calls]
            if outcome.status == "error":
                logs.append(_failure_row(task, outcome.error or "the model call failed"))
            if logs:
                await AgentLogRepository(session, scope).create_many(logs)
            awaiting = await _stamp_pending(session, task, conversation_id)
        return _report(conversation_id, outcome, [row for row, _ in calls], awaiting)


def model_calls(rows: Sequence[AiMessage]) -> list[tuple[AiMessage, str]]:
    """Each answer a model call produced (it carries the call's usage), with what the model had
    just read: the user's message or the tool results before it."""
    calls: list[tuple[AiMessage, str]] = []
    read: list[str] = []
    for row in rows:
        if row.role == MessageRole.ASSISTANT and "prompt" in (row.tokens or {}):
            calls.append((row, "\n".join(read)))
            read = []
        elif row.role in (MessageRole.USER, MessageRole.TOOL):
            read.append(row.content)
    return calls


def _short(text: str) -> str:
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS] + "…"


def _log_row(task: AgentTask, row: AiMessage, read: str) -> dict[str, Any]:
    names = [c["function"]["name"] for c in row.tool_calls or []]
    said = row.content or ("called " + ", ".join(names) if names else "")
    return {"agent_id": task.agent.id, "execution_id": task.execution_id,
            "user_id": task.caller.user_id, "input_summary": _short(read),
            "output_summary": _short(said), "duration_ms": row.response_time_ms, "success": True,
            "model": row.model, "provider": provider_of(row.model) if row.model else None,
            "details": {"message_id": str(row.id), "tokens": row.tokens, "tool_calls": names},
            "logged_at": row.updated_at}


def _failure_row(task: AgentTask, error: str) -> dict[str, Any]:
    return {"agent_id": task.agent.id, "execution_id": task.execution_id,
            "user_id": task.caller.user_id, "success": False, "error": _short(error),
            "details": {}}


async def _stamp_pending(session: AsyncSession, task: AgentTask,
                         conversation_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    """The run's actions awaiting approval, each marked as this agent's (and team's/workflow's)."""
    repo = AgentPendingActionRepository(session, task.caller.scope)
    pending = await repo.list_pending(conversation_id=conversation_id)
    for action in pending:
        if action.agent_id is None:
            await repo.update(action.id, agent_id=task.agent.id, team_id=task.team_id,
                              workflow_execution_id=task.workflow_execution_id)
    return tuple(action.id for action in pending)


def _report(conversation_id: uuid.UUID, outcome: TurnOutcome, calls: Sequence[AiMessage],
            awaiting: tuple[uuid.UUID, ...]) -> TurnReport:
    tokens = sum(int(r.tokens.get("prompt", 0)) + int(r.tokens.get("completion", 0))
                 for r in calls)
    cost = sum(float(r.tokens.get("cost_usd") or 0) for r in calls)
    if outcome.status != "complete" or outcome.error:
        error = outcome.error or f"the run was {outcome.status}"
        return TurnReport(conversation_id, "failed", outcome.text, error, awaiting, tokens, cost)
    if awaiting:
        return TurnReport(conversation_id, "waiting", outcome.text, None, awaiting, tokens, cost)
    return TurnReport(conversation_id, "completed", outcome.text, None, (), tokens, cost)


# -- worker handlers ------------------------------------------------------------------------------


def runner_for(job: JobContext) -> RuntimeAgentRunner:
    deps = job.services.get(RUNTIME_SERVICE)
    if not isinstance(deps, RuntimeDeps):
        raise RuntimeError(f"agent runs need the RuntimeDeps in job.services[{RUNTIME_SERVICE!r}]")
    return RuntimeAgentRunner(deps)


async def run_agent_execution(job: JobContext, workspace_id: uuid.UUID,
                              execution_id: uuid.UUID) -> None:
    """Claim a pending agent execution and run it (a team run when it names a team)."""
    scope, runner = WorkspaceScope(workspace_id), runner_for(job)
    claimed = await claim(job.sessions, scope, execution_id)
    if claimed is None:
        return
    try:
        if claimed.input.get("team_id"):
            report = await run_team(job.sessions, scope, runner, claimed.task, claimed.input)
        else:
            report = await runner.turn(claimed.task, task_text(claimed.input))
    except Exception:
        log.exception("agent execution %s failed", execution_id)
        report = TurnReport.failed(f"the run failed unexpectedly (reference {execution_id})")
    await finish_execution(job.sessions, scope, execution_id, report)


async def run_due_schedule(job: JobContext, workspace_id: uuid.UUID,
                           schedule_id: uuid.UUID) -> None:
    """Fire a due schedule once (compare-and-set on `next_run_at`) and run the execution it
    queued (unless another worker's `agent_run` claims it first; either way it runs once)."""
    execution_id = await fire_schedule(job.sessions, WorkspaceScope(workspace_id), schedule_id,
                                       job.now)
    if execution_id is not None:
        await run_agent_execution(job, workspace_id, execution_id)


async def run_workflow_execution(job: JobContext, workspace_id: uuid.UUID,
                                 execution_id: uuid.UUID) -> None:
    """Claim a pending workflow run and run its steps until it ends or pauses."""
    scope = WorkspaceScope(workspace_id)
    try:
        await run_workflow(job.sessions, scope, runner_for(job), execution_id)
    except Exception:
        log.exception("workflow execution %s failed", execution_id)
        await abandon_workflow(job.sessions, scope, execution_id,
                               f"the run failed unexpectedly (reference {execution_id})")


# -- approvals of agent actions -------------------------------------------------------------------


async def decide_agent_action(deps: RuntimeDeps, caller: Caller, pending_id: uuid.UUID, *,
                              approve: bool, notes: str | None = None) -> TurnReport:
    """Approve or reject an action an agent run proposed (`Runtime.decide`: the stored call runs
    once, the run's conversation continues with the agent's own prompt and tools), then settle
    the run: its logs, its execution, and the workflow step it belongs to."""
    runner = RuntimeAgentRunner(deps)
    task, conversation_id = await _run_of(deps, caller, pending_id)
    since = await runner.last_seq(caller, conversation_id)
    turn = await Runtime(deps).decide(caller, pending_id, approve=approve, notes=notes)
    async with turn:
        outcome = await turn.wait()
    report = await runner.record(task, conversation_id, since, outcome)
    return await _settle(deps, task, report)


async def _run_of(deps: RuntimeDeps, caller: Caller,
                  pending_id: uuid.UUID) -> tuple[AgentTask, uuid.UUID]:
    """The agent run whose conversation proposed this action (as the deciding caller)."""
    scope = caller.scope
    async with scoped_session(deps.database.sessions, scope) as session:
        pending = await AgentPendingActionRepository(session, scope).get(pending_id)
        conversation = await ConversationRepository(session, scope).find(
            pending.conversation_id) if pending.conversation_id else None
        raw = (conversation.context or {}).get("agent_execution_id") if conversation else None
        execution = await AgentExecutionRepository(session, scope).find(
            uuid.UUID(str(raw))) if raw else None
        agent = await AgentRepository(session, scope).find(execution.agent_id) \
            if execution else None
    if conversation is None or execution is None or agent is None:
        raise InvalidArgument("this action was not proposed by an agent run")
    return AgentTask(execution.id, agent, caller), conversation.id


async def _settle(deps: RuntimeDeps, task: AgentTask, report: TurnReport) -> TurnReport:
    """Fold the continuation into the run (usage added) and end it unless it waits again."""
    sessions, scope = deps.database.sessions, task.caller.scope
    async with scoped_session(sessions, scope) as session:
        execution = await AgentExecutionRepository(session, scope).get(task.execution_id)
    if execution.status != ExecutionStatus.RUNNING:
        return report
    earlier = TurnReport(report.conversation_id, "completed",
                         tokens=execution.tokens_used or 0, cost_usd=execution.cost_cents / 100)
    report = report.plus_usage(earlier)
    await finish_execution(sessions, scope, execution.id, report)
    await resume_after_step(sessions, scope, execution.id, report)
    return report
