"""Agent teams: a coordinator agent and the member agents it hands sub-tasks to.

A team run is one `agent_executions` row of the coordinator (input: the objective, the team and
the run's message thread), queued like any agent run; the worker's `agent_run` handler runs it
(`assistant.agent_runs`). Every step of it is an `agent_messages` row in the run's own thread:
the objective (to the coordinator), each hand-off (coordinator to member, via `hand_off_task`),
each member's result (member to coordinator) and the final answer.

`hand_off_task` is not in the catalogue: it lives in `TEAM_TOOLS`, which the runner adds to the
coordinator's tools during a team run only, together with the `TeamRun` it needs.
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field, model_validator

from store.errors import InvalidArgument
from store.models.agents import AgentExecution, AgentStatus
from store.models.core import MemberRole
from store.models.orchestration import Department, MessageType, TeamRole, TeamStatus
from store.repositories.agents import AgentExecutionRepository, AgentRepository
from store.repositories.orchestration import (
    AgentMessageRepository,
    AgentTeamMemberRepository,
    AgentTeamRepository,
)
from tools.agents.common import AGENT_RUN, EXECUTION_FIELDS, ExecutionOut, Frozen, check_runnable
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import ToolFailed
from tools.jobs import nudge
from tools.orchestration.common import (
    TEAM_FIELDS,
    TEAM_RUN_SERVICE,
    TeamOut,
    TeamRun,
)
from tools.registry import Risk, ToolRegistry, tool

TEAM_TOOLS = ToolRegistry()
MAX_MEMBERS = 12


class CreateTeamArgs(Frozen):
    name: str = Field(min_length=1, max_length=120, description="Team name, e.g. 'Sales Pod'.")
    coordinator_agent_id: uuid.UUID = Field(
        description="The agent that plans and hands sub-tasks to the others.")
    member_agent_ids: list[uuid.UUID] = Field(
        min_length=1, max_length=MAX_MEMBERS,
        description="The other agents, in the order they usually work.")
    department: Department = Field(default=Department.GENERAL, description="Where it works.")
    description: str | None = Field(default=None, max_length=2000, description="What it is for.")

    @model_validator(mode="after")
    def _distinct(self) -> CreateTeamArgs:
        ids = self.member_agent_ids
        if len(set(ids)) != len(ids) or self.coordinator_agent_id in ids:
            raise ValueError("each agent joins once; the coordinator is not also a member")
        return self


class TeamResult(BaseModel):
    team: TeamOut


@tool(risk=Risk.MEDIUM, permission="agents", title="Create agent team {name}", examples=(
    "make a sales team with the Lead Scout coordinating the notetaker and the caller",
    "group the research and blog agents into a content team",
))
async def create_agent_team(ctx: ToolContext, args: CreateTeamArgs) -> TeamResult:
    """Create a team of agents: one coordinator, which plans and hands sub-tasks to the members,
    and one or more members. All must be this workspace's agents and not archived."""
    teams = AgentTeamRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_team")
    if earlier is not None:
        return TeamResult(team=TeamOut.of(await teams.roster(earlier)))
    ids = [args.coordinator_agent_id, *args.member_agent_ids]
    agents = {a.id: a for a in await AgentRepository(ctx.session, ctx.scope).get_many(ids)}
    for agent_id in ids:
        if agent_id not in agents or agents[agent_id].status == AgentStatus.ARCHIVED:
            raise InvalidArgument(f"no agent with id {agent_id} in this workspace; use"
                                  " list_agents")
    team = await teams.create(
        name=args.name.strip(), department=args.department, description=args.description,
        coordinator_agent_id=args.coordinator_agent_id, created_by=ctx.caller.user_id,
    )
    seats = AgentTeamMemberRepository(ctx.session, ctx.scope)
    await seats.add(team.id, args.coordinator_agent_id, role=TeamRole.COORDINATOR)
    for agent_id in args.member_agent_ids:
        await seats.add(team.id, agent_id, role=TeamRole.SPECIALIST)
    after = {**snapshot(team, TEAM_FIELDS), "members": [str(i) for i in args.member_agent_ids]}
    await record_change(ctx, "create", "agent_team", team.id, after=after)
    return TeamResult(team=TeamOut.of(await teams.roster(team.id)))


class ListTeamsArgs(Frozen):
    department: Department | None = Field(default=None, description="Only this department.")
    status: TeamStatus | None = Field(default=None, description="Only this status.")
    limit: int = Field(default=20, ge=1, le=50, description="Teams per page (1-50).")
    cursor: str | None = Field(default=None, max_length=500,
                               description="next_cursor of a previous call, for more.")


class TeamList(BaseModel):
    teams: list[TeamOut] = Field(description="By name.")
    has_more: bool
    next_cursor: str | None


@tool(risk=Risk.LOW, examples=("which agent teams do we have?", "show the sales agent team"))
async def list_agent_teams(ctx: ToolContext, args: ListTeamsArgs) -> TeamList:
    """List agent teams by name with their coordinator, members and run counts."""
    teams = AgentTeamRepository(ctx.session, ctx.scope)
    page = await teams.search(department=args.department, status=args.status,
                              limit=args.limit, cursor=args.cursor)
    return TeamList(teams=[TeamOut.of(await teams.roster(t.id)) for t in page.items],
                    has_more=page.next_cursor is not None, next_cursor=page.next_cursor)


class RunTeamArgs(Frozen):
    team_id: uuid.UUID = Field(description="The team, from list_agent_teams.")
    objective: str = Field(min_length=1, max_length=4000,
                           description="What the team should achieve, in plain words.")


class TeamRunResult(BaseModel):
    execution: ExecutionOut = Field(description="The coordinator's run.")
    thread_id: uuid.UUID = Field(description="The run's message thread.")
    note: str


@tool(risk=Risk.MEDIUM, permission="agents", title="Run agent team {team_id}", examples=(
    "have the sales team follow up on this week's demos",
    "ask the content team for a post about our launch",
))
async def run_agent_team(ctx: ToolContext, args: RunTeamArgs) -> TeamRunResult:
    """Start a team on an objective. The coordinator plans and hands sub-tasks to the members,
    who report back; it then answers. It runs in the background, acting as you, and each agent
    uses only its own tools. Check it with get_agent_execution."""
    runs = AgentExecutionRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_execution")
    if earlier is not None:
        return _queued(await runs.get(earlier))
    roster = await AgentTeamRepository(ctx.session, ctx.scope).roster(args.team_id)
    team = roster.team
    coordinator = next((a for a in roster.agents if a.id == team.coordinator_agent_id), None)
    if team.status != TeamStatus.ACTIVE or coordinator is None or len(roster.seats) < 2:
        raise ToolFailed(f"team {team.name!r} cannot run: it needs to be active, with a"
                         " coordinator and at least one member")
    check_runnable(coordinator)
    objective = await AgentMessageRepository(ctx.session, ctx.scope).send(
        MessageType.TASK, {"objective": args.objective}, to_agent_id=coordinator.id,
        team_id=team.id)
    run = await runs.queue(coordinator.id, triggered_by=ctx.caller.user_id, input={
        "objective": args.objective, "team_id": str(team.id),
        "thread_id": str(objective.thread_id), "message_id": str(objective.id)})
    await record_change(ctx, "create", "agent_execution", run.id,
                        after=snapshot(run, EXECUTION_FIELDS))
    await nudge(ctx, AGENT_RUN, run.id)
    return _queued(run)


def _queued(run: AgentExecution) -> TeamRunResult:
    return TeamRunResult(execution=ExecutionOut.of(run),
                         thread_id=uuid.UUID(str(run.input["thread_id"])),
                         note="Queued: the team works in the background. Nothing is done yet.")


# -- inside a team run --------------------------------------------------------------------------


class HandOffArgs(Frozen):
    member_agent_id: uuid.UUID = Field(description="The team member to do it (see your team).")
    task: str = Field(min_length=1, max_length=4000,
                      description="The sub-task, self-contained: the member sees only this.")


class HandOffResult(BaseModel):
    message_id: uuid.UUID
    member: str
    note: str


@TEAM_TOOLS.tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Hand off to {member_agent_id}")
async def hand_off_task(ctx: ToolContext, args: HandOffArgs) -> HandOffResult:
    """Hand a sub-task to one member of your team. Members work after this turn ends and their
    results come back to you in the next message; then combine them into your answer. Hand off
    each sub-task once; you may hand off several in one step."""
    team_run = ctx.services.get(TEAM_RUN_SERVICE)
    if not isinstance(team_run, TeamRun):
        raise ToolFailed("hand_off_task works only for a team's coordinator during a team run")
    member = team_run.members.get(args.member_agent_id)
    if member is None:
        raise InvalidArgument(f"{args.member_agent_id} is not a member of your team; members: "
                              + ", ".join(f"{n} ({i})" for i, n in team_run.members.items()))
    messages = AgentMessageRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "agent_message")
    if earlier is None:
        row = await messages.send(
            MessageType.HANDOFF, {"task": args.task}, from_agent_id=team_run.coordinator_id,
            to_agent_id=args.member_agent_id, team_id=team_run.team_id,
            parent_message_id=team_run.objective_message_id)
        await record_change(ctx, "create", "agent_message", row.id,
                            after={"type": "handoff", "to_agent_id": args.member_agent_id,
                                   "task": args.task})
        earlier = row.id
    return HandOffResult(message_id=earlier, member=member,
                         note="Handed off; the member reports back after this turn.")
