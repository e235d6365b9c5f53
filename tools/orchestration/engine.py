"""Running teams and workflows: which agent works when, and the messages between them.

Team run (one coordinator execution): the coordinator's first turn gets the objective and its
roster and may call `hand_off_task` for members; each hand-off is a `handoff` message in the run's
thread. When the turn ends, every open hand-off runs as the member's own execution (its own
conversation, tools and approvals), and its answer comes back as a `result` message replying to
the hand-off. The coordinator then gets the results as its next message and answers, or hands
off again (at most `MAX_TEAM_ROUNDS` coordinator turns). Its final answer closes the thread as a
`result` message, and the team's run counters move.

Workflow run: steps in order, each by its agent as an execution of its own, acting as the member
who started the workflow. Step n gets its instruction plus step n-1's answer (the first gets the
workflow's input); each hand-over is a `task` message from the previous step's agent and each
answer a `result` message, in one thread per run (`context.thread_id`). A step that fails ends
the run failed; a step that waits for approval pauses it (`context.waiting` says which), and
`resume_after_step` continues it once that step's execution is settled.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.models.agents import Agent, AgentStatus, ExecutionStatus
from store.models.orchestration import (
    AgentMessage,
    AgentWorkflowExecution,
    MessageStatus,
    MessageType,
    WorkflowRunStatus,
)
from store.repositories.agents import AgentExecutionRepository, AgentRepository
from store.repositories.orchestration import (
    AgentMessageRepository,
    AgentTeamRepository,
    AgentWorkflowExecutionRepository,
    AgentWorkflowRepository,
)
from store.tenancy import WorkspaceScope, scoped_session
from tools.agents.common import preview
from tools.agents.execution import Sessions, acting_caller, finish_execution
from tools.agents.runner import AgentRunner, AgentTask, TurnReport
from tools.context import Caller
from tools.jobs import notify_due
from tools.orchestration.common import WORKFLOW_RUN, TeamRun, message_text

MAX_TEAM_ROUNDS = 3
REPORT_CHARS = 6000

# -- teams --------------------------------------------------------------------------------------


async def run_team(sessions: Sessions, scope: WorkspaceScope, runner: AgentRunner,
                   coordinator: AgentTask, input: Mapping[str, Any]) -> TurnReport:
    """Run a team from its coordinator's claimed execution; the coordinator's summed report."""
    team_id = uuid.UUID(str(input["team_id"]))
    async with scoped_session(sessions, scope) as session:
        roster = await AgentTeamRepository(session, scope).roster(team_id)
    members = [a for a in roster.agents if a.id != coordinator.agent.id]
    team = TeamRun(team_id, coordinator.agent.id, uuid.UUID(str(input["thread_id"])),
                   uuid.UUID(str(input["message_id"])), {a.id: a.name for a in members})
    task = AgentTask(coordinator.execution_id, coordinator.agent, coordinator.caller,
                     f"as the coordinator of the team {roster.team.name!r}", team=team,
                     team_id=team_id)
    text = _briefing(str(input.get("objective") or ""), members)
    report: TurnReport | None = None
    for round_ in range(MAX_TEAM_ROUNDS):
        conversation = report.conversation_id if report else None
        report = (await runner.turn(task, text, conversation)).plus_usage(report)
        if report.status != "completed" or round_ == MAX_TEAM_ROUNDS - 1:
            break
        handoffs = await _open_handoffs(sessions, scope, team)
        if not handoffs:
            break
        results = [await _run_member(sessions, scope, runner, task, m) for m in handoffs]
        text = _results_text(results, last=round_ == MAX_TEAM_ROUNDS - 2)
    assert report is not None
    await _close_team_run(sessions, scope, task, report)
    return report


def _briefing(objective: str, members: list[Agent]) -> str:
    roster = "\n".join(f"- {a.name} (member_agent_id {a.id}): {a.description or 'no description'}"
                       for a in members)
    return (f"Objective: {objective}\n\nYour team; hand each sub-task to the right member with"
            f" hand_off_task, then finish this turn with your plan:\n{roster}")


def _results_text(results: list[tuple[str, TurnReport]], *, last: bool) -> str:
    parts = [f"## {name} ({report.status})\n{report.text or report.error or ''}"
             for name, report in results]
    tail = ("Answer now with the final result for the objective; do not hand off again." if last
            else "Combine these into the final result for the objective, or hand off again if"
                 " something is missing.")
    body = preview("Your team reported back.\n\n" + "\n\n".join(parts), REPORT_CHARS) or ""
    return f"{body}\n\n{tail}"


async def _open_handoffs(sessions: Sessions, scope: WorkspaceScope,
                         team: TeamRun) -> list[AgentMessage]:
    async with scoped_session(sessions, scope) as session:
        thread = await AgentMessageRepository(session, scope).thread(team.thread_id)
    return [m for m in thread if m.message_type == MessageType.HANDOFF
            and m.from_agent_id == team.coordinator_id and m.status == MessageStatus.PENDING]


async def _run_member(sessions: Sessions, scope: WorkspaceScope, runner: AgentRunner,
                      coordinator: AgentTask, handoff: AgentMessage) -> tuple[str, TurnReport]:
    """One hand-off: the member's own execution, then its result as a reply in the thread."""
    assert coordinator.team is not None and handoff.to_agent_id is not None
    text = message_text(handoff)
    async with scoped_session(sessions, scope) as session:
        agent = await AgentRepository(session, scope).get(handoff.to_agent_id)
        run = await AgentExecutionRepository(session, scope).start(agent.id, input={
            "task": text, "team_id": str(coordinator.team.team_id),
            "thread_id": str(coordinator.team.thread_id), "message_id": str(handoff.id),
            "parent_execution_id": str(coordinator.execution_id)},
            triggered_by=coordinator.caller.user_id)
        await AgentMessageRepository(session, scope).mark(handoff.id, MessageStatus.DELIVERED)
    if agent.status != AgentStatus.ACTIVE:
        report = TurnReport.failed(f"{agent.name} is {agent.status} and did nothing")
    else:
        member = AgentTask(run.id, agent, coordinator.caller, "by its team's coordinator",
                           team_id=coordinator.team.team_id)
        report = await runner.turn(member, text)
    await finish_execution(sessions, scope, run.id, report)
    async with scoped_session(sessions, scope) as session:
        messages = AgentMessageRepository(session, scope)
        await messages.send(MessageType.RESULT, _result_content(report, run.id),
                            from_agent_id=agent.id, to_agent_id=coordinator.agent.id,
                            parent_message_id=handoff.id)
        await messages.mark(handoff.id, MessageStatus.PROCESSED)
    return agent.name, report


def _result_content(report: TurnReport, execution_id: uuid.UUID) -> dict[str, Any]:
    return {"text": report.text or report.error or "", "status": report.status,
            "execution_id": str(execution_id)}


async def _close_team_run(sessions: Sessions, scope: WorkspaceScope, task: AgentTask,
                          report: TurnReport) -> None:
    """The coordinator's answer closes the thread; the team counts the run."""
    team = task.team
    assert team is not None
    async with scoped_session(sessions, scope) as session:
        messages = AgentMessageRepository(session, scope)
        await messages.send(MessageType.RESULT,
                            {**_result_content(report, task.execution_id), "final": True},
                            from_agent_id=team.coordinator_id,
                            parent_message_id=team.objective_message_id)
        await messages.mark(team.objective_message_id, MessageStatus.PROCESSED)
        await AgentTeamRepository(session, scope).record_run(
            team.team_id, succeeded=report.status == "completed")


# -- workflows ----------------------------------------------------------------------------------


async def run_workflow(sessions: Sessions, scope: WorkspaceScope, runner: AgentRunner,
                       execution_id: uuid.UUID) -> None:
    """Claim a pending workflow run and do its steps from where it stands, until it ends or a
    step waits for approval."""
    async with scoped_session(sessions, scope) as session:
        run = await AgentWorkflowExecutionRepository(session, scope).claim(execution_id)
        if run is None:
            return
        workflow = await AgentWorkflowRepository(session, scope).get(run.workflow_id)
        caller = await acting_caller(session, scope, run.triggered_by or workflow.created_by)
    if caller is None:
        await _end_workflow(sessions, scope, run.id,
                            "the member who started this workflow is no longer in the workspace")
        return
    for index in range(run.current_step_index, len(workflow.steps)):
        step = _Step(run.id, workflow.name, list(workflow.steps), index)
        if (await _run_step(sessions, scope, runner, step, caller)).status != "completed":
            return
    await _end_workflow(sessions, scope, run.id, None)


class _Step:
    """One step of one workflow run: which, and what comes after it."""

    def __init__(self, run_id: uuid.UUID, workflow: str, steps: list[dict[str, Any]],
                 index: int) -> None:
        self.run_id, self.workflow, self.index = run_id, workflow, index
        self.spec = steps[index]
        self.id = str(self.spec.get("id"))
        self.next_id = str(steps[index + 1].get("id")) if index + 1 < len(steps) else None

    @property
    def agent_id(self) -> uuid.UUID | None:
        raw = self.spec.get("agentId")
        return uuid.UUID(str(raw)) if raw else None

    @property
    def instruction(self) -> str:
        return str(self.spec.get("instruction") or self.spec.get("action")
                   or self.spec.get("name") or "")

    def text(self, previous: str) -> str:
        """The step agent's message: its instruction and what the step before produced."""
        return f"{self.instruction}\n\nInput:\n{previous or '(none)'}"


async def _run_step(sessions: Sessions, scope: WorkspaceScope, runner: AgentRunner,
                    step: _Step, caller: Caller) -> TurnReport:
    async with scoped_session(sessions, scope) as session:
        run = await AgentWorkflowExecutionRepository(session, scope).get(step.run_id)
        agent = await AgentRepository(session, scope).find(step.agent_id) if step.agent_id \
            else None
        previous = str(run.context.get("output") or run.trigger_data.get("input") or "")
        message = await _hand_over(session, scope, run, step, agent, previous)
        execution = None
        if agent is not None and agent.status == AgentStatus.ACTIVE:
            execution = await AgentExecutionRepository(session, scope).start(
                agent.id, triggered_by=caller.user_id, input={
                    "task": step.text(previous), "workflow_execution_id": str(run.id),
                    "step_id": step.id})
    if execution is None or agent is None:
        report = TurnReport.failed(f"step {step.id}: its agent is missing or not active")
    else:
        task = AgentTask(execution.id, agent, caller,
                         f"as step {step.index + 1} of the workflow {step.workflow!r}",
                         workflow_execution_id=step.run_id)
        report = await runner.turn(task, step.text(previous))
        await finish_execution(sessions, scope, execution.id, report)
    await _after_step(sessions, scope, step, agent, execution.id if execution else None, message,
                      report)
    return report


async def _hand_over(session: AsyncSession, scope: WorkspaceScope, run: AgentWorkflowExecution,
                     step: _Step, agent: Agent | None, previous: str) -> uuid.UUID:
    """The step's `task` message, from the previous step's agent, in the run's thread."""
    context = dict(run.context)
    parent = context.get("last_message_id")
    row = await AgentMessageRepository(session, scope).send(
        MessageType.TASK,
        {"task": step.instruction, "input": preview(previous), "step_id": step.id},
        from_agent_id=uuid.UUID(context["last_agent_id"]) if context.get("last_agent_id")
        else None, to_agent_id=agent.id if agent else None,
        parent_message_id=uuid.UUID(parent) if parent else None)
    context.update(thread_id=str(row.thread_id), last_message_id=str(row.id))
    await AgentWorkflowExecutionRepository(session, scope).update(
        run.id, context=context, current_step_id=step.id)
    return row.id


async def _after_step(sessions: Sessions, scope: WorkspaceScope, step: _Step,
                      agent: Agent | None, execution_id: uuid.UUID | None,
                      message_id: uuid.UUID, report: TurnReport) -> None:
    """Post the step's answer and move the run: next step, failed, or paused."""
    status = "awaiting_approval" if report.status == "waiting" else report.status
    result = {"status": status, "text": preview(report.text or report.error),
              "execution_id": str(execution_id) if execution_id else None,
              "agent_id": str(agent.id) if agent else None}
    async with scoped_session(sessions, scope) as session:
        runs = AgentWorkflowExecutionRepository(session, scope)
        run = await runs.get(step.run_id)
        answer = await AgentMessageRepository(session, scope).send(
            MessageType.RESULT, {"text": report.text or report.error or "", "status": status,
                                 "step_id": step.id}, from_agent_id=agent.id if agent else None,
            parent_message_id=message_id)
        context = {**run.context, "last_message_id": str(answer.id),
                   "last_agent_id": str(agent.id) if agent else None}
        context.pop("waiting", None)
        if report.status == "completed":
            await runs.update(run.id, context={**context, "output": report.text})
            await runs.record_step(run.id, step.id, result, next_step_id=step.next_id)
            return
        await runs.update(run.id, step_results={**run.step_results, step.id: result})
        if report.status == "waiting":
            await runs.pause(run.id, {**context, "waiting": {
                "step_index": step.index, "execution_id": result["execution_id"],
                "message_id": str(message_id)}})
        else:
            await runs.finish(run.id, WorkflowRunStatus.FAILED,
                              error={"message": report.error or "the step failed",
                                     "step_id": step.id})


async def _end_workflow(sessions: Sessions, scope: WorkspaceScope, run_id: uuid.UUID,
                        error: str | None) -> None:
    async with scoped_session(sessions, scope) as session:
        await AgentWorkflowExecutionRepository(session, scope).finish(
            run_id, WorkflowRunStatus.FAILED if error else WorkflowRunStatus.COMPLETED,
            error={"message": error} if error else None)


async def abandon_workflow(sessions: Sessions, scope: WorkspaceScope, run_id: uuid.UUID,
                           error: str) -> None:
    """End a run that broke mid-way (a crash, not a step's failure) as failed, unless it ended."""
    async with scoped_session(sessions, scope) as session:
        runs = AgentWorkflowExecutionRepository(session, scope)
        run = await runs.find(run_id)
        if run is not None and not run.status.is_final:
            await runs.finish(run_id, WorkflowRunStatus.FAILED, error={"message": error})


async def resume_after_step(sessions: Sessions, scope: WorkspaceScope, execution_id: uuid.UUID,
                            report: TurnReport) -> bool:
    """A paused workflow's waiting step (the agent execution `execution_id`) was settled after
    an approval: record its outcome and, when it completed, put the run back to pending for the
    worker (nudged). False when no paused run waits on that execution, or it still waits."""
    async with scoped_session(sessions, scope) as session:
        execution = await AgentExecutionRepository(session, scope).get(execution_id)
        raw = execution.input.get("workflow_execution_id")
        run = await AgentWorkflowExecutionRepository(session, scope).find(
            uuid.UUID(str(raw))) if raw else None
        if run is None or execution.status == ExecutionStatus.RUNNING:
            return False
        waiting = run.context.get("waiting") or {}
        if run.status != WorkflowRunStatus.PAUSED or waiting.get("execution_id") != str(
                execution_id):
            return False
        workflow = await AgentWorkflowRepository(session, scope).get(run.workflow_id)
        agent = await AgentRepository(session, scope).find(execution.agent_id)
    step = _Step(run.id, workflow.name, list(workflow.steps), int(waiting["step_index"]))
    await _after_step(sessions, scope, step, agent, execution_id,
                      uuid.UUID(str(waiting["message_id"])), report)
    if report.status == "completed":
        async with scoped_session(sessions, scope) as session:
            await AgentWorkflowExecutionRepository(session, scope).resume(run.id)
            await notify_due(session, WORKFLOW_RUN, run.id)
    return True
