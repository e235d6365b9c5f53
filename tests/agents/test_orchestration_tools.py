"""Orchestration tools against the real database: teams, workflows, shared memory and the
approval queue; bad arguments change nothing, viewers cannot write, other workspaces' ids are
not found."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from store.models.admin import AuditLog
from store.models.agents import AgentExecution, AgentStatus, ExecutionStatus
from store.models.core import MemberRole
from store.models.orchestration import (
    AgentMessage,
    AgentSharedMemory,
    AgentTeam,
    AgentTeamMember,
    AgentWorkflow,
    AgentWorkflowExecution,
    RiskLevel,
    TeamRole,
    WorkflowRunStatus,
    WorkflowStatus,
)
from store.repositories.base import utcnow
from store.repositories.orchestration import (
    AgentPendingActionRepository,
    AgentWorkflowRepository,
)
from store.tenancy import scoped_session
from tests.agents.test_agent_tools import agent
from tests.conftest import WorkspaceFixture
from tests.tools.helpers import (
    CallTool,
    Sessions,
    add_member,
    audit_trail,
    row_counts,
    rows,
    unchanged,
)
from tools.errors import RetryableToolError, ToolFailed

WRITES = {
    "create_agent_team": {"name": "T", "coordinator_agent_id": "{lead}",
                          "member_agent_ids": ["{helper}"]},
    "run_agent_team": {"team_id": "{team}", "objective": "Win"},
    "create_workflow": {"name": "W", "steps": [{"agent_id": "{lead}", "instruction": "Go"}]},
    "execute_workflow": {"workflow_id": "{workflow}"},
    "remember_shared": {"key": "k", "value": "v", "team_id": "{team}"},
}
BY_ID = {
    **WRITES,
    "list_workflows": {"team_id": "{team}"},
    "get_workflow_execution": {"execution_id": "{run}"},
    "list_pending_actions": {"agent_id": "{lead}"},
    "recall_shared": {"agent_id": "{lead}"},
}


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    return await row_counts(sessions, ws, AgentTeam, AgentTeamMember, AgentMessage,
                            AgentExecution, AgentWorkflow, AgentWorkflowExecution,
                            AgentSharedMemory, AuditLog)


async def world(call_tool: CallTool, sessions: Sessions, ws: WorkspaceFixture) -> dict[str, str]:
    lead, helper = await agent(sessions, ws, "Lead"), await agent(sessions, ws, "Helper")
    team = await call_tool(ws, "create_agent_team", {
        "name": "Pod", "coordinator_agent_id": str(lead), "member_agent_ids": [str(helper)]})
    flow = await call_tool(ws, "create_workflow", {
        "name": "Flow", "team_id": str(team.team.id),
        "steps": [{"agent_id": str(lead), "instruction": "Plan"}]})
    run = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow.workflow.id)})
    return {"lead": str(lead), "helper": str(helper), "team": str(team.team.id),
            "workflow": str(flow.workflow.id), "run": str(run.run.id)}


def filled(args: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    def fill(value: Any) -> Any:
        if isinstance(value, str):
            return value.format(**ids)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value
    return {k: fill(v) for k, v in args.items()}


@pytest.mark.parametrize("name", sorted(WRITES))
async def test_viewers_cannot_write(call_tool: CallTool, ws: WorkspaceFixture,
                                    sessions: Sessions, name: str) -> None:
    ids = await world(call_tool, sessions, ws)
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="role"):
            await call_tool(ws, name, filled(WRITES[name], ids), role=MemberRole.VIEWER)


@pytest.mark.parametrize("name", sorted(BY_ID))
async def test_another_workspaces_ids_are_not_found(
    call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture], sessions: Sessions,
    name: str,
) -> None:
    mine, theirs = two
    ids = await world(call_tool, sessions, theirs)
    await world(call_tool, sessions, mine)
    async with unchanged(footprint, sessions, mine, theirs):
        with pytest.raises(RetryableToolError, match=r"no .* with id"):
            await call_tool(mine, name, filled(BY_ID[name], ids))


# -- teams -------------------------------------------------------------------------------------


async def test_create_and_list_agent_teams(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lead, a, b = [await agent(sessions, ws, n) for n in ("Lead", "A", "B")]
    made = await call_tool(ws, "create_agent_team", {
        "name": "Pod", "coordinator_agent_id": str(lead), "member_agent_ids": [str(b), str(a)],
        "department": "sales"}, role=MemberRole.MEMBER, key="t1")
    again = await call_tool(ws, "create_agent_team", {
        "name": "Pod", "coordinator_agent_id": str(lead), "member_agent_ids": [str(b), str(a)],
        "department": "sales"}, role=MemberRole.MEMBER, key="t1")
    assert again.team.id == made.team.id
    assert [(m.name, m.role) for m in made.team.members] == [
        ("Lead", TeamRole.COORDINATOR), ("B", TeamRole.SPECIALIST), ("A", TeamRole.SPECIALIST)]
    [team] = await rows(sessions, ws, AgentTeam)
    assert (team.coordinator_agent_id, team.department, team.created_by) == (
        lead, "sales", ws.user_id)
    assert len(await rows(sessions, ws, AgentTeamMember)) == 3
    [(action, changes)] = await audit_trail(sessions, ws, "agent_team")
    assert action == "create" and changes["members"]["after"] == [str(b), str(a)]
    listed = await call_tool(ws, "list_agent_teams", {"department": "sales"},
                             role=MemberRole.VIEWER)
    assert [t.name for t in listed.teams] == ["Pod"] and len(listed.teams[0].members) == 3
    gone = await agent(sessions, ws, "Gone", status=AgentStatus.ARCHIVED)
    async with unchanged(footprint, sessions, ws):
        for bad in ({"member_agent_ids": []}, {"member_agent_ids": [str(a), str(a)]},
                    {"member_agent_ids": [str(lead)]}, {"member_agent_ids": [str(gone)]},
                    {"member_agent_ids": [str(uuid.uuid4())]}, {"name": ""}):
            args = {"name": "X", "coordinator_agent_id": str(lead),
                    "member_agent_ids": [str(a)], **bad}
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_agent_team", args)


async def test_run_agent_team_queues_the_coordinator_on_a_new_thread(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ids = await world(call_tool, sessions, ws)
    started = await call_tool(ws, "run_agent_team", {"team_id": ids["team"],
                                                      "objective": "Close Acme"})
    [message] = await rows(sessions, ws, AgentMessage)
    assert (message.message_type, message.to_agent_id, message.content, message.thread_id) == (
        "task", uuid.UUID(ids["lead"]), {"objective": "Close Acme"}, started.thread_id)
    [run] = await rows(sessions, ws, AgentExecution)
    assert (run.status, run.agent_id, run.triggered_by) == (
        ExecutionStatus.PENDING, uuid.UUID(ids["lead"]), ws.user_id)
    assert run.input == {"objective": "Close Acme", "team_id": ids["team"],
                         "thread_id": str(message.thread_id), "message_id": str(message.id)}
    await call_tool(ws, "update_agent", {"agent_id": ids["lead"], "status": "paused"})
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="paused"):
            await call_tool(ws, "run_agent_team", {"team_id": ids["team"], "objective": "x"})
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "run_agent_team", {"team_id": ids["team"], "objective": ""})


# -- workflows ---------------------------------------------------------------------------------


async def test_create_list_and_execute_workflows(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lead, helper = await agent(sessions, ws, "Lead"), await agent(sessions, ws, "Helper")
    made = await call_tool(ws, "create_workflow", {"name": "Follow-up", "steps": [
        {"agent_id": str(lead), "instruction": "Research", "name": "Research"},
        {"agent_id": str(helper), "instruction": "Write"}]})
    [flow] = await rows(sessions, ws, AgentWorkflow)
    assert flow.status == WorkflowStatus.ACTIVE and flow.steps == [
        {"id": "step_1", "name": "Research", "agentId": str(lead), "instruction": "Research"},
        {"id": "step_2", "name": "Step 2", "agentId": str(helper), "instruction": "Write"}]
    listed = await call_tool(ws, "list_workflows", {}, role=MemberRole.VIEWER)
    assert [w.id for w in listed.workflows] == [made.workflow.id]
    started = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow.id),
                                                        "input": "Acme"}, key="w1")
    again = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow.id),
                                                      "input": "Acme"}, key="w1")
    assert again.run.id == started.run.id
    [run] = await rows(sessions, ws, AgentWorkflowExecution)
    assert (run.status, run.total_steps, run.current_step_id, run.trigger_data) == (
        WorkflowRunStatus.PENDING, 2, "step_1", {"input": "Acme"})
    assert [s.status for s in started.run.steps] == ["waiting", "waiting"]
    actions = sorted(a for a, _ in await audit_trail(sessions, ws, "agent_workflow")) + [
        a for a, _ in await audit_trail(sessions, ws, "agent_workflow_execution")]
    assert actions == ["create", "create"]
    async with scoped_session(sessions, ws.scope) as s:
        await AgentWorkflowRepository(s, ws.scope).update(flow.id, status=WorkflowStatus.PAUSED)
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="paused"):
            await call_tool(ws, "execute_workflow", {"workflow_id": str(flow.id)})
        for bad in ({"steps": []}, {"steps": [{"agent_id": str(uuid.uuid4()),
                                               "instruction": "x"}]},
                    {"steps": [{"agent_id": str(lead), "instruction": ""}]},
                    {"team_id": str(uuid.uuid4())}):
            args = {"name": "X", "steps": [{"agent_id": str(lead), "instruction": "x"}], **bad}
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_workflow", args)


# -- approvals and memory ----------------------------------------------------------------------


async def test_list_pending_actions_shows_yours_and_admins_see_all(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    lead = await agent(sessions, ws, "Lead")
    sam = await add_member(sessions, ws, "Sam")
    async with scoped_session(sessions, ws.scope) as s:
        repo = AgentPendingActionRepository(s, ws.scope)
        await repo.request(tool_name="invite_member", tool_arguments={"email": "a@b.co"},
                           risk_level=RiskLevel.HIGH, title="Invite a@b.co", user_id=sam,
                           agent_id=lead, expires_at=utcnow() + timedelta(hours=1))
        await repo.request(tool_name="create_contact", tool_arguments={}, title="Add Ada",
                           risk_level=RiskLevel.MEDIUM, user_id=ws.user_id,
                           expires_at=utcnow() + timedelta(hours=1))
        await repo.request(tool_name="create_contact", tool_arguments={}, title="Old",
                           risk_level=RiskLevel.MEDIUM, user_id=sam,
                           expires_at=utcnow() - timedelta(hours=1))
    mine = await call_tool(ws, "list_pending_actions", {}, role=MemberRole.MEMBER, user_id=sam)
    assert [(a.title, a.agent_name) for a in mine.actions] == [("Invite a@b.co", "Lead")]
    pretend = await call_tool(ws, "list_pending_actions", {"everyone": True},
                              role=MemberRole.MEMBER, user_id=sam)
    assert pretend.total == 1
    everyone = await call_tool(ws, "list_pending_actions", {"everyone": True})
    assert sorted(a.title for a in everyone.actions) == ["Add Ada", "Invite a@b.co"]
    by_agent = await call_tool(ws, "list_pending_actions", {"everyone": True,
                                                            "agent_id": str(lead)})
    assert [a.tool for a in by_agent.actions] == ["invite_member"]
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "list_pending_actions", {"limit": 0})


async def test_remember_and_recall_shared_memory(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ids = await world(call_tool, sessions, ws)
    first = await call_tool(ws, "remember_shared", {"key": "acme", "value": "email only",
                                                    "importance": 80}, role=MemberRole.MEMBER)
    replaced = await call_tool(ws, "remember_shared", {"key": "acme", "value": {"prefers":
                                                                               "email"}})
    await call_tool(ws, "remember_shared", {"key": "acme", "value": 1, "team_id": ids["team"]})
    await call_tool(ws, "remember_shared", {"key": "soon", "value": "x", "expires_in_days": 1,
                                            "importance": 10})
    assert (first.replaced, replaced.replaced) == (False, True)
    memories = await rows(sessions, ws, AgentSharedMemory)
    assert sorted((m.key, m.team_id is None) for m in memories) == [
        ("acme", False), ("acme", True), ("soon", True)]
    trail = await audit_trail(sessions, ws, "agent_shared_memory")
    assert [a for a, _ in trail] == ["create", "update", "create", "create"]
    assert trail[1][1]["value"] == {"before": "email only", "after": {"prefers": "email"}}

    one = await call_tool(ws, "recall_shared", {"key": "acme"}, role=MemberRole.VIEWER)
    assert [m.value for m in one.memories] == [{"prefers": "email"}]
    team = await call_tool(ws, "recall_shared", {"team_id": ids["team"]}, role=MemberRole.VIEWER)
    assert [(m.key, m.value) for m in team.memories] == [("acme", 1)]
    ranked = await call_tool(ws, "recall_shared", {}, role=MemberRole.VIEWER)
    assert [m.key for m in ranked.memories] == ["acme", "soon"]
    async with scoped_session(sessions, ws.scope) as s:
        await s.execute(sa.update(AgentSharedMemory).where(AgentSharedMemory.key == "soon")
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await call_tool(ws, "recall_shared", {"key": "soon"})).memories == []
    async with unchanged(footprint, sessions, ws):
        for bad in ({"key": "", "value": "x"}, {"key": "k"}, {"key": "k", "value": "x" * 20_001},
                    {"key": "k", "value": "x", "importance": 101},
                    {"key": "k", "value": "x", "team_id": ids["team"], "agent_id": ids["lead"]},
                    {"key": "k", "value": "x", "agent_id": str(uuid.uuid4())}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "remember_shared", bad)
