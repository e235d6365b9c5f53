"""Teams and workflows really run: hand-offs and results on the agent bus, step results, and a
workflow that pauses on an approval and resumes after it."""

from __future__ import annotations

import uuid

from assistant.agent_runs import (
    decide_agent_action,
    run_agent_execution,
    run_workflow_execution,
)
from assistant.deps import RuntimeDeps
from store.db import Database
from store.models.admin import TodoHqTask
from store.models.agents import AgentExecution, ExecutionStatus
from store.models.core import MemberRole, WorkspaceMember
from store.models.orchestration import (
    AgentMessage,
    AgentPendingAction,
    AgentTeam,
    AgentWorkflowExecution,
)
from tests.agents.conftest import make_agent
from tests.conftest import WorkspaceFixture
from tests.model_server import Call, ModelServer, Text, ToolCalls
from tests.tools.helpers import CallTool, rows
from tools.context import Caller
from tools.jobs import JobContext


async def messages(database: Database, ws: WorkspaceFixture) -> list[AgentMessage]:
    found = await rows(database.sessions, ws, AgentMessage)
    return sorted(found, key=lambda m: (m.created_at, m.id))


async def test_a_team_run_hands_off_and_reports_back_on_one_thread(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    lead = await make_agent(database, ws, "Lead")
    maker = await make_agent(database, ws, "Maker", tools=["create_task"])
    writer = await make_agent(database, ws, "Writer")
    team = await call_tool(ws, "create_agent_team", {
        "name": "Pod", "coordinator_agent_id": str(lead),
        "member_agent_ids": [str(maker), str(writer)]})
    started = await call_tool(ws, "run_agent_team", {"team_id": str(team.team.id),
                                                      "objective": "Prepare the Acme call"})
    server.script(
        ToolCalls([Call("hand_off_task", {"member_agent_id": str(maker), "task": "Add a task"}),
                   Call("hand_off_task", {"member_agent_id": str(writer), "task": "Brief"})]),
        Text("Maker adds the task, Writer writes the brief."),
        ToolCalls([Call("create_task", {"title": "Call Acme", "unassigned": True})]),
        Text("Task added."),
        Text("Brief: Acme wants a discount."),
        Text("Ready: task added and brief written."),
    )

    await run_agent_execution(job, ws.workspace_id, started.execution.id)

    requests = server.requests
    assert requests[0].tool_names == ["hand_off_task"]
    assert "Maker (member_agent_id" in requests[0].messages[-1]["content"]
    assert requests[2].tool_names == ["create_task"] and requests[4].tool_names == []
    assert requests[2].messages[-1]["content"] == "Add a task"
    report = requests[5].messages[-1]["content"]
    assert "Task added." in report and "Brief: Acme wants a discount." in report
    bus = await messages(database, ws)
    assert [(m.message_type, m.from_agent_id, m.to_agent_id) for m in bus] == [
        ("task", None, lead), ("handoff", lead, maker), ("handoff", lead, writer),
        ("result", maker, lead), ("result", writer, lead), ("result", lead, None)]
    assert {m.thread_id for m in bus} == {started.thread_id}
    assert bus[-1].content["text"] == "Ready: task added and brief written."
    assert all(m.status == "processed" for m in bus if m.message_type != "result")
    runs = {r.agent_id: r for r in await rows(database.sessions, ws, AgentExecution)}
    assert {r.status for r in runs.values()} == {ExecutionStatus.COMPLETED}
    assert runs[maker].input["parent_execution_id"] == str(started.execution.id)
    assert runs[lead].output["text"] == "Ready: task added and brief written."
    assert [t.title for t in await rows(database.sessions, ws, TodoHqTask)] == ["Call Acme"]
    [pod] = await rows(database.sessions, ws, AgentTeam)
    assert (pod.total_executions, pod.successful_executions) == (1, 1)


async def test_hand_off_is_refused_outside_a_team_run(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    solo = await make_agent(database, ws, "Solo", tools=["list_tasks"])
    run = await call_tool(ws, "run_agent", {"agent_id": str(solo), "task": "Delegate this"})
    server.script(ToolCalls([Call("hand_off_task", {"member_agent_id": str(solo),
                                                    "task": "x"})]), Text("I cannot."))

    await run_agent_execution(job, ws.workspace_id, run.execution.id)

    assert server.requests[0].tool_names == ["list_tasks"]
    assert "no tool named 'hand_off_task'" in server.requests[1].messages[-1]["content"]
    assert await messages(database, ws) == []


async def workflow(call_tool: CallTool, ws: WorkspaceFixture,
                   *steps: tuple[uuid.UUID, str]) -> uuid.UUID:
    made = await call_tool(ws, "create_workflow", {"name": "Flow", "steps": [
        {"agent_id": str(agent), "instruction": text} for agent, text in steps]})
    return uuid.UUID(str(made.workflow.id))


async def test_a_workflow_runs_its_steps_in_order_and_records_each(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    maker = await make_agent(database, ws, "Maker", tools=["create_task"])
    writer = await make_agent(database, ws, "Writer")
    flow = await workflow(call_tool, ws, (maker, "Add the follow-up task"),
                          (writer, "Write a note about it"))
    started = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow),
                                                        "input": "Acme asked for a call"})
    server.script(ToolCalls([Call("create_task", {"title": "Call Acme", "unassigned": True})]),
                  Text("Made the task Call Acme."), Text("Note: call Acme this week."))

    await run_workflow_execution(job, ws.workspace_id, started.run.id)

    [run] = await rows(database.sessions, ws, AgentWorkflowExecution)
    assert (run.status, run.completed_steps, run.current_step_id) == ("completed", 2, None)
    assert {k: (v["status"], v["text"]) for k, v in run.step_results.items()} == {
        "step_1": ("completed", "Made the task Call Acme."),
        "step_2": ("completed", "Note: call Acme this week.")}
    assert server.requests[0].messages[-1]["content"] == (
        "Add the follow-up task\n\nInput:\nAcme asked for a call")
    assert "Made the task Call Acme." in server.requests[2].messages[-1]["content"]
    bus = await messages(database, ws)
    assert [(m.message_type, m.from_agent_id, m.to_agent_id) for m in bus] == [
        ("task", None, maker), ("result", maker, None), ("task", maker, writer),
        ("result", writer, None)]
    assert {m.thread_id for m in bus} == {uuid.UUID(run.context["thread_id"])}
    detail = await call_tool(ws, "get_workflow_execution", {"execution_id": str(run.id)},
                             role=MemberRole.VIEWER)
    assert [s.status for s in detail.run.steps] == ["completed", "completed"]
    assert detail.run.output == "Note: call Acme this week." and len(detail.messages) == 4


async def test_a_failing_step_fails_the_workflow(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext,
) -> None:
    first = await make_agent(database, ws, "First")
    second = await make_agent(database, ws, "Second")
    flow = await workflow(call_tool, ws, (first, "Do one"), (second, "Do two"))
    started = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow)})
    await call_tool(ws, "update_agent", {"agent_id": str(second), "status": "paused"})
    server.script(Text("One done."))

    await run_workflow_execution(job, ws.workspace_id, started.run.id)

    [run] = await rows(database.sessions, ws, AgentWorkflowExecution)
    assert run.status == "failed" and run.error["step_id"] == "step_2"
    assert run.step_results["step_1"]["status"] == "completed"
    assert run.step_results["step_2"]["status"] == "failed"


async def test_a_workflow_pauses_on_approval_and_resumes_after_it(
    call_tool: CallTool, ws: WorkspaceFixture, database: Database, server: ModelServer,
    job: JobContext, deps: RuntimeDeps,
) -> None:
    recruiter = await make_agent(database, ws, "Recruiter", tools=["invite_member"])
    writer = await make_agent(database, ws, "Writer")
    flow = await workflow(call_tool, ws, (recruiter, "Invite lee@acme.com"),
                          (writer, "Write the welcome note"))
    started = await call_tool(ws, "execute_workflow", {"workflow_id": str(flow)})
    server.script(ToolCalls([Call("invite_member", {"email": "lee@acme.com"})]),
                  Text("Waiting for approval."))

    await run_workflow_execution(job, ws.workspace_id, started.run.id)

    [run] = await rows(database.sessions, ws, AgentWorkflowExecution)
    [pending] = await rows(database.sessions, ws, AgentPendingAction)
    assert run.status == "paused" and run.step_results["step_1"]["status"] == "awaiting_approval"
    assert (pending.agent_id, pending.workflow_execution_id) == (recruiter, run.id)

    server.script(Text("Lee is invited."), Text("Welcome, Lee!"))
    owner = Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)
    await decide_agent_action(deps, owner, pending.id, approve=True)
    [run] = await rows(database.sessions, ws, AgentWorkflowExecution)
    assert run.status == "pending" and run.current_step_index == 1

    await run_workflow_execution(job, ws.workspace_id, run.id)

    [run] = await rows(database.sessions, ws, AgentWorkflowExecution)
    assert run.status == "completed" and run.context["output"] == "Welcome, Lee!"
    assert run.step_results["step_1"]["text"] == "Lee is invited."
    assert len(await rows(database.sessions, ws, WorkspaceMember)) == 2
    assert "Lee is invited." in server.requests[-1].messages[-1]["content"]
