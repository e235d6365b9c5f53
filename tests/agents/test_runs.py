"""Agents really run: through the chat runtime against the scripted model server, with their own
prompt, model and tools, the workspace's approval policy, and records of every model call."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from assistant.agent_runs import decide_agent_action, run_agent_execution, run_due_schedule
from assistant.deps import RuntimeDeps
from store.db import Database
from store.errors import InvalidArgument
from store.models.admin import TodoHqTask
from store.models.agents import AgentExecution, AgentLog, AgentSchedule, ExecutionStatus
from store.models.ai import AiConversation
from store.models.core import MemberRole, WorkspaceMember
from store.models.crm import Contact
from store.models.orchestration import AgentPendingAction, RiskLevel
from store.repositories.agents import AgentScheduleRepository
from store.repositories.base import utcnow
from store.repositories.orchestration import AgentPendingActionRepository
from store.tenancy import scoped_session
from tests.agents.conftest import make_agent
from tests.conftest import WorkspaceFixture
from tests.model_server import Call, Error, ModelServer, Text, ToolCalls, Usage
from tests.tools.helpers import CallTool, add_member, fetch, rows
from tools.context import Caller
from tools.jobs import JobContext

TASK_CALL = Call("create_task", {"title": "Call Acme back", "unassigned": True})


async def start(call_tool: CallTool, ws: WorkspaceFixture, agent_id: uuid.UUID,
                task: str = "Tidy up") -> uuid.UUID:
    result = await call_tool(ws, "run_agent", {"agent_id": str(agent_id), "task": task})
    assert result.execution.status == ExecutionStatus.PENDING
    return uuid.UUID(str(result.execution.id))


async def execution(database: Database, ws: WorkspaceFixture,
                    execution_id: uuid.UUID) -> AgentExecution:
    [row] = await rows(database.sessions, ws, AgentExecution, AgentExecution.id == execution_id)
    return row


async def test_agent_run_uses_its_tools_answers_and_is_recorded(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Tidier", tools=["list_tasks", "create_task"])
    run_id = await start(call_tool, ws, agent, "Make a task to call Acme back")
    server.script(ToolCalls([TASK_CALL], usage=Usage(100, 20)),
                  Text("I created the task 'Call Acme back'.", usage=Usage(150, 30)))

    await run_agent_execution(job, ws.workspace_id, run_id)
    await run_agent_execution(job, ws.workspace_id, run_id)  # claimed already: does nothing

    run = await execution(database, ws, run_id)
    assert run.status == ExecutionStatus.COMPLETED and run.error is None
    assert run.output["text"] == "I created the task 'Call Acme back'."
    assert (run.tokens_used, run.started_at is not None, run.duration_ms is not None) == (
        300, True, True)
    [task] = await rows(database.sessions, ws, TodoHqTask)
    assert task.title == "Call Acme back"
    first, second = server.requests
    assert first.tool_names == ["create_task", "list_tasks"]
    assert first.messages[0]["content"].startswith("You are Tidier.")
    assert first.messages[-1] == {"role": "user", "content": "Make a task to call Acme back"}
    assert '"ok":true' in second.messages[-1]["content"]
    logs = sorted(await rows(database.sessions, ws, AgentLog), key=lambda r: r.logged_at)
    assert [(log.success, log.output_summary, log.details["tool_calls"]) for log in logs] == [
        (True, "called create_task", ["create_task"]),
        (True, "I created the task 'Call Acme back'.", []),
    ]
    assert logs[0].input_summary == "Make a task to call Acme back"
    assert {log.execution_id for log in logs} == {run_id}
    [conversation] = await rows(database.sessions, ws, AiConversation)
    assert conversation.context["agent_execution_id"] == str(run_id)
    assert conversation.user_id == ws.user_id


async def test_a_tool_outside_the_agents_list_is_not_offered_and_not_run(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Reader", tools=["list_tasks"])
    run_id = await start(call_tool, ws, agent)
    sneaky = Call("create_contact", {"first_name": "Eve", "email": "eve@example.com"})
    server.script(ToolCalls([sneaky]), Text("I could not add Eve."))

    await run_agent_execution(job, ws.workspace_id, run_id)

    assert server.requests[0].tool_names == ["list_tasks"]
    told = server.requests[1].messages[-1]["content"]
    assert "no tool named 'create_contact'" in told and "tools: list_tasks" in told
    assert await rows(database.sessions, ws, Contact) == []
    assert (await execution(database, ws, run_id)).status == ExecutionStatus.COMPLETED


async def test_a_high_risk_call_waits_for_approval_then_the_run_settles(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext, deps: RuntimeDeps,
) -> None:
    agent = await make_agent(database, ws, "Recruiter", tools=["invite_member"])
    run_id = await start(call_tool, ws, agent, "Invite lee@acme.com")
    invite = Call("invite_member", {"email": "lee@acme.com"})
    server.script(ToolCalls([invite]), Text("The invitation waits for your approval."))

    await run_agent_execution(job, ws.workspace_id, run_id)

    run = await execution(database, ws, run_id)
    [pending] = await rows(database.sessions, ws, AgentPendingAction)
    assert run.status == ExecutionStatus.RUNNING and run.completed_at is None
    assert run.output["awaiting_approval"] == [str(pending.id)]
    assert (pending.agent_id, pending.tool_name, pending.status) == (
        agent, "invite_member", "pending")
    assert len(await rows(database.sessions, ws, WorkspaceMember)) == 1  # nothing done yet

    server.script(Text("Lee is invited."))
    owner = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    report = await decide_agent_action(deps, owner, pending.id, approve=True)

    assert report.status == "completed" and report.text == "Lee is invited."
    run = await execution(database, ws, run_id)
    assert run.status == ExecutionStatus.COMPLETED and run.output["text"] == "Lee is invited."
    assert len(await rows(database.sessions, ws, WorkspaceMember)) == 2
    assert server.requests[-1].tool_names == ["invite_member"]  # still the agent's tools only
    assert len(await rows(database.sessions, ws, AgentLog)) == 3


async def test_a_paused_agent_does_not_run(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Sleeper")
    run_id = await start(call_tool, ws, agent)
    await call_tool(ws, "update_agent", {"agent_id": str(agent), "status": "paused"})

    await run_agent_execution(job, ws.workspace_id, run_id)

    run = await execution(database, ws, run_id)
    assert run.status == ExecutionStatus.FAILED and "paused" in run.error["message"]
    assert server.requests == []


async def test_a_model_outage_fails_the_run_and_logs_it(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Unlucky")
    run_id = await start(call_tool, ws, agent)
    server.script(*[Error(503)] * 6)

    await run_agent_execution(job, ws.workspace_id, run_id)

    run = await execution(database, ws, run_id)
    assert run.status == ExecutionStatus.FAILED and "unavailable" in run.error["message"]
    [log] = await rows(database.sessions, ws, AgentLog)
    assert not log.success and "unavailable" in (log.error or "")


# -- schedules --------------------------------------------------------------------------------


async def due_schedule(database: Database, ws: WorkspaceFixture, agent: uuid.UUID,
                       **values: Any) -> uuid.UUID:
    async with scoped_session(database.sessions, ws.scope) as session:
        row = await AgentScheduleRepository(session, ws.scope).create(
            agent_id=agent, trigger_type="scheduled", cron="0 8 * * *", timezone="Europe/Paris",
            next_run_at=utcnow() - timedelta(minutes=1),
            input={"task": "Morning round", "scheduled_by": str(ws.user_id)}, **values)
    return row.id


async def test_a_due_schedule_fires_once_when_two_workers_race(
    ws: WorkspaceFixture, database: Database, server: ModelServer, job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Early bird")
    schedule_id = await due_schedule(database, ws, agent)
    server.script(Text("Morning round done."))

    await asyncio.gather(run_due_schedule(job, ws.workspace_id, schedule_id),
                         run_due_schedule(job, ws.workspace_id, schedule_id))

    [run] = await rows(database.sessions, ws, AgentExecution)
    assert (run.status, run.schedule_id, run.triggered_by, run.input) == (
        ExecutionStatus.COMPLETED, schedule_id, ws.user_id, {"task": "Morning round"})
    assert len(server.requests) == 1
    schedule = await fetch(database.sessions, ws, AgentScheduleRepository, schedule_id)
    assert schedule.next_run_at > job.now and schedule.last_run_status == "completed"
    local = schedule.next_run_at.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (8, 0)


async def test_a_schedule_not_yet_due_or_of_a_paused_agent_starts_nothing(
    ws: WorkspaceFixture, database: Database, server: ModelServer, job: JobContext,
) -> None:
    agent = await make_agent(database, ws, "Napper", status="paused")
    paused = await due_schedule(database, ws, agent)
    later = await due_schedule(database, ws, agent)
    async with scoped_session(database.sessions, ws.scope) as session:
        await session.execute(sa.update(AgentSchedule).where(AgentSchedule.id == later)
                              .values(next_run_at=utcnow() + timedelta(hours=1)))

    await run_due_schedule(job, ws.workspace_id, paused)
    await run_due_schedule(job, ws.workspace_id, later)

    assert await rows(database.sessions, ws, AgentExecution) == []
    skipped = await fetch(database.sessions, ws, AgentScheduleRepository, paused)
    assert skipped.last_run_status == "cancelled" and skipped.next_run_at > job.now
    assert server.requests == []


async def test_rejecting_an_agents_action_tells_it_and_ends_the_run(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext, deps: RuntimeDeps,
) -> None:
    agent = await make_agent(database, ws, "Recruiter", tools=["invite_member"])
    run_id = await start(call_tool, ws, agent, "Invite lee@acme.com")
    server.script(ToolCalls([Call("invite_member", {"email": "lee@acme.com"})]),
                  Text("Waiting for approval."), Text("Understood, I did not invite Lee."))
    await run_agent_execution(job, ws.workspace_id, run_id)
    [pending] = await rows(database.sessions, ws, AgentPendingAction)
    owner = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)

    report = await decide_agent_action(deps, owner, pending.id, approve=False, notes="not now")

    assert report.status == "completed"
    assert "not now" in server.requests[-1].messages[-1]["content"]
    run = await execution(database, ws, run_id)
    assert run.status == ExecutionStatus.COMPLETED
    assert len(await rows(database.sessions, ws, WorkspaceMember)) == 1


async def test_only_an_agents_actions_are_decided_here(
    ws: WorkspaceFixture, database: Database, deps: RuntimeDeps,
) -> None:
    async with scoped_session(database.sessions, ws.scope) as session:
        pending = await AgentPendingActionRepository(session, ws.scope).request(
            tool_name="invite_member", tool_arguments={"email": "a@b.co"}, title="Invite",
            risk_level=RiskLevel.HIGH, user_id=ws.user_id,
            expires_at=utcnow() + timedelta(hours=1))
    owner = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    with pytest.raises(InvalidArgument, match="not proposed by an agent"):
        await decide_agent_action(deps, owner, pending.id, approve=True)
    [still] = await rows(database.sessions, ws, AgentPendingAction)
    assert still.status == "pending"


async def test_a_run_cannot_act_for_someone_who_left(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    sam = await add_member(database.sessions, ws, "Sam")
    agent = await make_agent(database, ws, "Helper")
    queued = await call_tool(ws, "run_agent", {"agent_id": str(agent), "task": "Go"},
                             role=MemberRole.MEMBER, user_id=sam)
    async with scoped_session(database.sessions, ws.scope) as session:
        await session.execute(sa.update(WorkspaceMember).where(WorkspaceMember.user_id == sam)
                              .values(is_active=False))

    await run_agent_execution(job, ws.workspace_id, queued.execution.id)

    run = await execution(database, ws, queued.execution.id)
    assert run.status == ExecutionStatus.FAILED and "no longer" in run.error["message"]
    assert server.requests == []
