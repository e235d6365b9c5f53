"""Agent tools for runs and schedules.

`run_agent` does not run the agent inside the chat's tool call (that would hold the call's
transaction open across many model calls): it writes a pending `agent_executions` row and nudges
the worker, whose `agent_run` handler (`assistant.agent_runs`) claims and runs it. A schedule is a
cron expression in a time zone with its next firing stored in UTC; the worker's `agent_schedule`
handler fires it when due.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from store.models.agents import AgentExecution, AgentStatus, ExecutionStatus, ScheduleTrigger
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentLogRepository,
    AgentRepository,
    AgentScheduleRepository,
)
from store.repositories.base import utcnow
from store.repositories.orchestration import AgentPendingActionRepository
from tools.agents.common import (
    AGENT_RUN,
    EXECUTION_FIELDS,
    SCHEDULE_FIELDS,
    ExecutionOut,
    Frozen,
    LogOut,
    ScheduleOut,
    check_cron,
    check_runnable,
)
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import ToolFailed
from tools.jobs import nudge
from tools.registry import Risk, tool

Task = Field(min_length=1, max_length=4000,
             description="What the agent should do this time, in plain words.")


class RunAgentArgs(Frozen):
    agent_id: uuid.UUID = Field(description="The agent, from list_agents.")
    task: str = Task


class RunResult(BaseModel):
    execution: ExecutionOut
    note: str


@tool(risk=Risk.MEDIUM, permission="agents", title="Run agent {agent_id}", examples=(
    "run the Lead Scout on this week's signups", "ask the research agent to summarise Acme",
))
async def run_agent(ctx: ToolContext, args: RunAgentArgs) -> RunResult:
    """Start an active agent on a task. The run is queued and starts within moments in the
    background, acting as you, with only the agent's tools; its risky actions wait for your
    approval. Check it with get_agent_execution; this call does not wait for the answer."""
    runs = AgentExecutionRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_execution")
    if earlier is not None:
        return _queued(await runs.get(earlier))
    agent = await AgentRepository(ctx.session, ctx.scope).get(args.agent_id)
    check_runnable(agent)
    run = await runs.queue(agent.id, input={"task": args.task},
                           triggered_by=ctx.caller.user_id)
    await record_change(ctx, "create", "agent_execution", run.id,
                        after=snapshot(run, EXECUTION_FIELDS))
    await nudge(ctx, AGENT_RUN, run.id)
    return _queued(run)


def _queued(run: AgentExecution) -> RunResult:
    return RunResult(execution=ExecutionOut.of(run),
                     note="Queued: the agent runs in the background. Nothing is done yet.")


class ListExecutionsArgs(Frozen):
    agent_id: uuid.UUID | None = Field(default=None, description="Only this agent's runs.")
    status: ExecutionStatus | None = Field(default=None, description="Only runs in this status.")
    limit: int = Field(default=10, ge=1, le=50, description="Runs per page (1-50).")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class ExecutionList(BaseModel):
    executions: list[ExecutionOut] = Field(description="Newest first.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=(
    "what did the Lead Scout do today?", "show failed agent runs", "is my agent run done?",
))
async def list_agent_executions(ctx: ToolContext, args: ListExecutionsArgs) -> ExecutionList:
    """List agent runs, newest first: status, task, answer, tokens, cost and timing. Filter by
    agent or status (pending, running, completed, failed, cancelled)."""
    runs = AgentExecutionRepository(ctx.session, ctx.scope)
    filters: dict[str, Any] = {}
    if args.agent_id is not None:
        await AgentRepository(ctx.session, ctx.scope).get(args.agent_id)
        filters["agent_id"] = args.agent_id
    if args.status is not None:
        filters["status"] = args.status
    page = await runs.list(limit=args.limit, cursor=args.cursor, **filters)
    return ExecutionList(executions=[ExecutionOut.of(r) for r in page.items],
                         has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class GetExecutionArgs(Frozen):
    execution_id: uuid.UUID = Field(description="The run, from run_agent or list_agent_executions.")


class PendingOut(BaseModel):
    id: uuid.UUID
    tool: str
    title: str
    status: str


class ExecutionDetail(BaseModel):
    execution: ExecutionOut
    answer: str | None = Field(description="The agent's whole final answer.")
    model_calls: list[LogOut]
    approvals: list[PendingOut] = Field(description="Actions of this run that wait or waited.")


@tool(risk=Risk.LOW, examples=(
    "what did that agent run find?", "why did the last Lead Scout run fail?",
))
async def get_agent_execution(ctx: ToolContext, args: GetExecutionArgs) -> ExecutionDetail:
    """Show one agent run: status, the agent's full answer or error, each model call it made,
    and any of its actions that wait for approval."""
    run = await AgentExecutionRepository(ctx.session, ctx.scope).get(args.execution_id)
    logs = await AgentLogRepository(ctx.session, ctx.scope).for_execution(run.id)
    pending = AgentPendingActionRepository(ctx.session, ctx.scope)
    waiting = await pending.get_many(
        uuid.UUID(str(i)) for i in (run.output or {}).get("awaiting_approval", []))
    return ExecutionDetail(
        execution=ExecutionOut.of(run), answer=(run.output or {}).get("text"),
        model_calls=[LogOut.of(log) for log in logs],
        approvals=[PendingOut(id=p.id, tool=p.tool_name, title=p.title, status=p.status)
                   for p in waiting],
    )


# -- schedules ----------------------------------------------------------------------------------


class ScheduleAgentArgs(Frozen):
    agent_id: uuid.UUID = Field(description="The agent, from list_agents.")
    cron: str = Field(min_length=9, max_length=100, description=(
        "Five-field cron: minute hour day-of-month month day-of-week, e.g. '0 8 * * 1-5' for"
        " 8:00 on weekdays. At most every 5 minutes."))
    timezone: str = Field(default="UTC", min_length=1, max_length=64,
                          description="IANA time zone the cron is read in, e.g. Europe/Paris.")
    task: str = Task


class ScheduleResult(BaseModel):
    schedule: ScheduleOut


@tool(risk=Risk.MEDIUM, permission="agents", title="Schedule agent {agent_id}: {cron}", examples=(
    "run the Lead Scout every weekday at 8 New York time",
    "have the research agent summarise competitor news every Monday at 9",
))
async def schedule_agent(ctx: ToolContext, args: ScheduleAgentArgs) -> ScheduleResult:
    """Schedule an agent to run a task on a cron schedule in a time zone. The background worker
    starts each run when due, acting as you; a paused agent's firings are skipped. Returns the
    next run time in UTC and in the time zone. Stop it with unschedule_agent."""
    schedules = AgentScheduleRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_schedule")
    if earlier is not None:
        return ScheduleResult(schedule=ScheduleOut.of(await schedules.get(earlier)))
    agent = await AgentRepository(ctx.session, ctx.scope).get(args.agent_id)
    if agent.status == AgentStatus.ARCHIVED:
        raise ToolFailed(f"agent {agent.name!r} is archived")
    cron = " ".join(args.cron.split())
    first = check_cron(cron, args.timezone, utcnow())
    schedule = await schedules.create(
        agent_id=agent.id, trigger_type=ScheduleTrigger.SCHEDULED, cron=cron,
        timezone=args.timezone, enabled=True, next_run_at=first,
        input={"task": args.task, "scheduled_by": str(ctx.caller.user_id)},
    )
    await record_change(ctx, "create", "agent_schedule", schedule.id,
                        after=snapshot(schedule, SCHEDULE_FIELDS))
    return ScheduleResult(schedule=ScheduleOut.of(schedule))


class UnscheduleArgs(Frozen):
    schedule_id: uuid.UUID = Field(description="The schedule, from get_agent.")


@tool(risk=Risk.MEDIUM, permission="agents", title="Stop schedule {schedule_id}", examples=(
    "stop the Lead Scout's morning runs", "turn off the weekly research schedule",
))
async def unschedule_agent(ctx: ToolContext, args: UnscheduleArgs) -> ScheduleResult:
    """Stop a schedule: it no longer fires (runs already started continue). The schedule is
    kept, disabled, for the record."""
    schedules = AgentScheduleRepository(ctx.session, ctx.scope)
    schedule = await schedules.get(args.schedule_id)
    if not schedule.enabled:
        return ScheduleResult(schedule=ScheduleOut.of(schedule))
    before = snapshot(schedule, SCHEDULE_FIELDS)
    schedule = await schedules.update(schedule.id, enabled=False)
    await record_change(ctx, "update", "agent_schedule", schedule.id, before=before,
                        after=snapshot(schedule, SCHEDULE_FIELDS))
    return ScheduleResult(schedule=ScheduleOut.of(schedule))
