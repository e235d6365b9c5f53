"""Agent workflows: named sequences of steps, each done by one agent with one instruction.

A step is stored as `{"id", "name", "agentId", "instruction"}` (the shape the product already
uses, where older rows carry `action` instead of `instruction`). `execute_workflow` writes a
pending `agent_workflow_executions` row and nudges the worker, whose `workflow_run` handler
(`assistant.agent_runs`) runs the steps in order: each step's result lands in `step_results`,
and the hand-over between steps is an `agent_messages` thread of its own (id in `context`).
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field

from store.models.agents import AgentStatus
from store.models.orchestration import (
    AgentWorkflow,
    AgentWorkflowExecution,
    WorkflowRunStatus,
    WorkflowStatus,
    WorkflowTrigger,
)
from store.repositories.agents import AgentRepository
from store.repositories.orchestration import (
    AgentMessageRepository,
    AgentTeamRepository,
    AgentWorkflowExecutionRepository,
    AgentWorkflowRepository,
)
from tools.agents.common import Frozen, preview
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError
from tools.jobs import nudge
from tools.orchestration.common import (
    RUN_FIELDS,
    WORKFLOW_FIELDS,
    WORKFLOW_RUN,
    MessageOut,
)
from tools.registry import Risk, tool

MAX_STEPS = 20


class StepIn(Frozen):
    agent_id: uuid.UUID = Field(description="The agent doing this step, from list_agents.")
    instruction: str = Field(min_length=1, max_length=4000,
                             description="What the agent does in this step.")
    name: str | None = Field(default=None, max_length=120, description="Short step name.")


class StepOut(BaseModel):
    id: str
    name: str
    agent_id: uuid.UUID | None
    instruction: str


def step_out(step: dict[str, Any]) -> StepOut:
    agent = step.get("agentId")
    return StepOut(id=str(step.get("id")), name=str(step.get("name") or step.get("id")),
                   agent_id=uuid.UUID(str(agent)) if agent else None,
                   instruction=str(step.get("instruction") or step.get("action") or ""))


class WorkflowOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    status: WorkflowStatus
    team_id: uuid.UUID | None
    steps: list[StepOut]
    total_runs: int
    successful_runs: int

    @classmethod
    def of(cls, row: AgentWorkflow) -> WorkflowOut:
        return cls(id=row.id, name=row.name, description=row.description, status=row.status,
                   team_id=row.team_id, steps=[step_out(s) for s in row.steps],
                   total_runs=row.total_executions, successful_runs=row.successful_executions)


class CreateWorkflowArgs(Frozen):
    name: str = Field(min_length=1, max_length=120, description="Workflow name.")
    steps: list[StepIn] = Field(min_length=1, max_length=MAX_STEPS,
                                description="Steps in order; each gets the previous one's result.")
    description: str | None = Field(default=None, max_length=2000, description="What it is for.")
    team_id: uuid.UUID | None = Field(default=None, description="Team it belongs to, if any.")


class WorkflowResult(BaseModel):
    workflow: WorkflowOut


async def _check_agents(ctx: ToolContext, steps: list[StepIn]) -> None:
    ids = {s.agent_id for s in steps}
    found = await AgentRepository(ctx.session, ctx.scope).get_many(ids)
    usable = {a.id for a in found if a.status != AgentStatus.ARCHIVED}
    missing = sorted(str(i) for i in ids - usable)
    if missing:
        raise RetryableToolError(f"no agent with id {', '.join(missing)} in this workspace;"
                                 " use list_agents")


@tool(risk=Risk.MEDIUM, permission="agents", title="Create workflow {name}", examples=(
    "make a workflow: the researcher collects news, then the blog writer drafts a post",
    "chain the lead scout and the notetaker into a follow-up workflow",
))
async def create_workflow(ctx: ToolContext, args: CreateWorkflowArgs) -> WorkflowResult:
    """Create an agent workflow (active): steps run in order, each by one agent with one
    instruction, and each step receives the previous step's result. Run it with
    execute_workflow."""
    workflows = AgentWorkflowRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_workflow")
    if earlier is not None:
        return WorkflowResult(workflow=WorkflowOut.of(await workflows.get(earlier)))
    await _check_agents(ctx, list(args.steps))
    if args.team_id is not None:
        await AgentTeamRepository(ctx.session, ctx.scope).get(args.team_id)
    steps = [{"id": f"step_{n}", "name": s.name or f"Step {n}", "agentId": str(s.agent_id),
              "instruction": s.instruction} for n, s in enumerate(args.steps, start=1)]
    workflow = await workflows.create(
        name=args.name.strip(), description=args.description, team_id=args.team_id,
        steps=steps, status=WorkflowStatus.ACTIVE, trigger_type=WorkflowTrigger.MANUAL,
        created_by=ctx.caller.user_id,
    )
    await record_change(ctx, "create", "agent_workflow", workflow.id,
                        after=snapshot(workflow, WORKFLOW_FIELDS))
    return WorkflowResult(workflow=WorkflowOut.of(workflow))


class ListWorkflowsArgs(Frozen):
    team_id: uuid.UUID | None = Field(default=None, description="Only this team's workflows.")
    status: WorkflowStatus | None = Field(default=None, description="Only this status.")
    limit: int = Field(default=20, ge=1, le=50, description="Workflows per page (1-50).")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class WorkflowList(BaseModel):
    workflows: list[WorkflowOut] = Field(description="By name.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=("which agent workflows do we have?", "list the sales workflows"))
async def list_workflows(ctx: ToolContext, args: ListWorkflowsArgs) -> WorkflowList:
    """List agent workflows by name with their steps and run counts."""
    if args.team_id is not None:
        await AgentTeamRepository(ctx.session, ctx.scope).get(args.team_id)
    page = await AgentWorkflowRepository(ctx.session, ctx.scope).search(
        team_id=args.team_id, status=args.status, limit=args.limit, cursor=args.cursor)
    return WorkflowList(workflows=[WorkflowOut.of(w) for w in page.items],
                        has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class ExecuteWorkflowArgs(Frozen):
    workflow_id: uuid.UUID = Field(description="The workflow, from list_workflows.")
    input: str | None = Field(default=None, max_length=8000,
                              description="What the first step works on, in plain words.")


class StepRunOut(BaseModel):
    step: StepOut
    status: str = Field(description="waiting, completed, failed or awaiting_approval.")
    answer: str | None
    execution_id: uuid.UUID | None = Field(description="The step's agent run.")


class WorkflowRunOut(BaseModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    status: WorkflowRunStatus
    completed_steps: int
    total_steps: int
    steps: list[StepRunOut]
    output: str | None = Field(description="The last step's answer (shortened).")
    error: str | None
    duration_ms: int | None


def run_out(run: AgentWorkflowExecution, workflow: AgentWorkflow) -> WorkflowRunOut:
    steps = []
    for step in workflow.steps:
        result = run.step_results.get(str(step.get("id"))) or {}
        execution = result.get("execution_id")
        steps.append(StepRunOut(
            step=step_out(step), status=str(result.get("status") or "waiting"),
            answer=preview(result.get("text"), 1000),
            execution_id=uuid.UUID(str(execution)) if execution else None))
    return WorkflowRunOut(
        id=run.id, workflow_id=run.workflow_id, status=run.status,
        completed_steps=run.completed_steps, total_steps=run.total_steps, steps=steps,
        output=preview(run.context.get("output")), error=(run.error or {}).get("message"),
        duration_ms=run.duration_ms,
    )


class WorkflowRunResult(BaseModel):
    run: WorkflowRunOut
    note: str


@tool(risk=Risk.MEDIUM, permission="agents", title="Run workflow {workflow_id}", examples=(
    "run the weekly content workflow", "start the lead follow-up workflow for Acme",
))
async def execute_workflow(ctx: ToolContext, args: ExecuteWorkflowArgs) -> WorkflowRunResult:
    """Start an active workflow. It runs in the background, step by step, acting as you; each
    agent uses only its own tools and risky actions wait for approval (the run pauses). Check
    it with get_workflow_execution."""
    runs = AgentWorkflowExecutionRepository(ctx.session, ctx.scope)
    workflow = await AgentWorkflowRepository(ctx.session, ctx.scope).get(args.workflow_id)
    earlier = await replayed(ctx, "create", "agent_workflow_execution")
    if earlier is not None:
        run = await runs.get(earlier)
    else:
        run = await runs.queue(workflow.id, trigger_data={"input": args.input or ""},
                               triggered_by=ctx.caller.user_id)
        await record_change(ctx, "create", "agent_workflow_execution", run.id,
                            after=snapshot(run, RUN_FIELDS))
        await nudge(ctx, WORKFLOW_RUN, run.id)
    return WorkflowRunResult(run=run_out(run, workflow),
                             note="Queued: the workflow runs in the background.")


class GetWorkflowRunArgs(Frozen):
    execution_id: uuid.UUID = Field(description="The workflow run, from execute_workflow.")


class WorkflowRunDetail(BaseModel):
    run: WorkflowRunOut
    messages: list[MessageOut] = Field(description="Hand-overs between the steps, in order.")


@tool(risk=Risk.LOW, examples=("how far is the content workflow?", "did the follow-up run work?"))
async def get_workflow_execution(ctx: ToolContext, args: GetWorkflowRunArgs
                                 ) -> WorkflowRunDetail:
    """Show a workflow run: its status, each step's status and answer, the hand-over messages
    between steps, and the error if it failed."""
    run = await AgentWorkflowExecutionRepository(ctx.session, ctx.scope).get(args.execution_id)
    workflow = await AgentWorkflowRepository(ctx.session, ctx.scope).get(run.workflow_id)
    thread = run.context.get("thread_id")
    messages = []
    if thread:
        rows = await AgentMessageRepository(ctx.session, ctx.scope).thread(uuid.UUID(thread))
        messages = [MessageOut.of(m) for m in rows]
    return WorkflowRunDetail(run=run_out(run, workflow), messages=messages)
