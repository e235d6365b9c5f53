"""Actions that need approval: the run pauses on a pending action; approving runs the tool once
and the run goes on; rejecting (or letting it expire, or cancelling) fails the step."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from assistant.approvals import resolve
from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from assistant.settings import RuntimeSettings
from store.db import Database
from store.errors import Conflict
from store.models.core import MemberRole, WorkspaceMember
from store.models.crm import Contact
from store.models.orchestration import AgentPendingAction
from store.repositories.base import utcnow
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.grids.support import Run, Sessions, advance, chain, create, edge, node, start
from tests.tools.helpers import rows
from tools.context import Caller
from tools.grids.engine import Engine
from tools.grids.runs import expire_approvals
from tools.registry import ToolRegistry

START = node("start", "trigger")
ADD = node("add", "action", tool="create_contact",
           arguments={"first_name": "{{ input.name }}", "email": "{{ input.email }}"})
THANKS = node("thanks", "email", to="{{ add.contact.email }}", subject="Welcome",
              body="Hello {{ add.contact.first_name }}")


@pytest.fixture
def deps(database: Database, catalog: ToolRegistry) -> RuntimeDeps:
    return RuntimeDeps(database, Gateway(), catalog, RuntimeSettings())


def owner(ws: WorkspaceFixture) -> Caller:
    return Caller.for_member(ws.workspace_id, ws.user_id, MemberRole.OWNER)


async def paused(call_tool: Any, sessions: Sessions, ws: WorkspaceFixture,
                 nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> tuple[Run,
                                                                                   AgentPendingAction]:
    grid_id = await create(call_tool, ws, nodes, edges)
    execution_id = await start(call_tool, ws, grid_id, {"name": "Ada", "email": "ada@ae.com"})
    run = await advance(sessions, ws, execution_id)
    [pending] = await rows(sessions, ws, AgentPendingAction)
    return run, pending


async def test_a_medium_risk_action_pauses_the_run(call_tool: Any, sessions: Sessions,
                                                   ws: WorkspaceFixture) -> None:
    run, pending = await paused(call_tool, sessions, ws, [START, ADD, THANKS],
                                chain("start", "add", "thanks"))
    assert run.status == "paused" and run.statuses() == {"start": "completed", "add": "running"}
    assert run.by_node()["add"][0].output == {
        "awaiting_approval": str(pending.id),
        "logs": ["create_contact waits for approval: Create a contact"]}
    assert (pending.tool_name, pending.status, pending.grid_execution_id, pending.user_id) == (
        "create_contact", "pending", run.execution.id, ws.user_id)
    assert {k: v for k, v in pending.tool_arguments.items() if v is not None} == {
        "first_name": "Ada", "email": "ada@ae.com", "status": "lead"}
    assert pending.idempotency_key == f"grid:{run.execution.id}:add:0"
    assert await rows(sessions, ws, Contact) == []
    assert await Engine(sessions, ws.scope).advance(run.execution.id) is None  # not claimable


async def test_approving_runs_the_tool_once_and_the_run_completes(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, deps: RuntimeDeps,
) -> None:
    run, pending = await paused(call_tool, sessions, ws, [START, ADD, THANKS],
                                chain("start", "add", "thanks"))
    resolution = await resolve(deps, owner(ws), pending.id, approve=True)
    assert resolution.outcome.status == "success"
    with pytest.raises(Conflict):
        await resolve(deps, owner(ws), pending.id, approve=True)
    waiting = await advance(sessions, ws, run.execution.id, now=utcnow() - timedelta(hours=1))
    assert waiting.status == "waiting"  # resume_at is the decision time: not due an hour ago
    done = await advance(sessions, ws, run.execution.id)
    assert done.status == "completed", done.execution.error
    [contact] = await rows(sessions, ws, Contact)
    assert contact.first_name == "Ada"
    assert done.output("add")["contact"]["id"] == str(contact.id)
    assert done.by_node()["add"][0].output["logs"] == ["approved; create_contact ran"]
    assert done.statuses() == {"start": "completed", "add": "completed", "thanks": "completed"}
    [decided] = await rows(sessions, ws, AgentPendingAction)
    assert decided.status == "executed"
    assert await Engine(sessions, ws.scope).advance(run.execution.id) is None  # all done
    assert len(await rows(sessions, ws, Contact)) == 1


async def test_rejecting_fails_the_step_and_the_run(call_tool: Any, sessions: Sessions,
                                                    ws: WorkspaceFixture,
                                                    deps: RuntimeDeps) -> None:
    run, pending = await paused(call_tool, sessions, ws, [START, ADD, THANKS],
                                chain("start", "add", "thanks"))
    await resolve(deps, owner(ws), pending.id, approve=False, notes="not a lead")
    done = await advance(sessions, ws, run.execution.id)
    assert done.status == "failed"
    assert done.execution.error == {"node": "add",
                                    "message": "rejected by the user: not a lead"}
    assert done.statuses() == {"start": "completed", "add": "failed"}
    assert await rows(sessions, ws, Contact) == []


async def test_an_error_edge_handles_a_rejection(call_tool: Any, sessions: Sessions,
                                                 ws: WorkspaceFixture, deps: RuntimeDeps) -> None:
    note = node("note", "transform", mapping={"skipped": "input.error"})
    run, pending = await paused(call_tool, sessions, ws, [START, ADD, THANKS, note],
                                [*chain("start", "add", "thanks"),
                                 edge("add", "note", type="error")])
    await resolve(deps, owner(ws), pending.id, approve=False)
    done = await advance(sessions, ws, run.execution.id)
    assert done.status == "completed"
    assert done.statuses() == {"start": "completed", "add": "failed", "thanks": "skipped",
                               "note": "completed"}
    assert done.output("note") == {"skipped": "rejected by the user"}


async def test_cancelling_a_paused_run_expires_its_approval(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture, deps: RuntimeDeps,
) -> None:
    run, pending = await paused(call_tool, sessions, ws, [START, ADD],
                                chain("start", "add"))
    await call_tool(ws, "cancel_grid_execution", {"execution_id": str(run.execution.id)})
    [expired] = await rows(sessions, ws, AgentPendingAction)
    assert expired.status == "expired"
    with pytest.raises(Conflict):
        await resolve(deps, owner(ws), pending.id, approve=True)
    assert await rows(sessions, ws, Contact) == []
    assert (await advance(sessions, ws, run.execution.id)).status == "cancelled"


async def test_an_expired_approval_fails_the_run(call_tool: Any, sessions: Sessions,
                                                 ws: WorkspaceFixture) -> None:
    run, pending = await paused(call_tool, sessions, ws, [START, ADD], chain("start", "add"))
    async with scoped_session(sessions, ws.scope) as session:
        assert await expire_approvals(session, ws.scope) == []  # not overdue yet
        await session.execute(sa.update(AgentPendingAction).where(
            AgentPendingAction.id == pending.id).values(expires_at=utcnow() - timedelta(1)))
    async with scoped_session(sessions, ws.scope) as session:
        assert await expire_approvals(session, ws.scope) == [run.execution.id]
    done = await advance(sessions, ws, run.execution.id)
    assert done.status == "failed"
    assert done.execution.error["message"] == "the approval expired before anyone decided"


async def test_actions_run_as_the_member_with_their_current_role(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture,
) -> None:
    task = node("task", "action", tool="create_task", arguments={"title": "x"})
    grid_id = await create(call_tool, ws, [START, task], chain("start", "task"))
    execution_id = await start(call_tool, ws, grid_id)
    async with scoped_session(sessions, ws.scope) as session:
        await session.execute(sa.update(WorkspaceMember).where(
            WorkspaceMember.workspace_id == ws.workspace_id,
            WorkspaceMember.user_id == ws.user_id).values(role=MemberRole.VIEWER))
    done = await advance(sessions, ws, execution_id)
    assert done.status == "failed"
    assert done.execution.error["message"] == "create_task needs the member role; you are viewer"


async def test_a_workspace_policy_can_require_approval_for_a_low_risk_tool(
    call_tool: Any, sessions: Sessions, ws: WorkspaceFixture,
) -> None:
    from store.models.core import Workspace

    async with scoped_session(sessions, ws.scope) as session:
        await session.execute(sa.update(Workspace).where(Workspace.id == ws.workspace_id).values(
            settings={"tool_policies": {"create_task": {"require_approval": True}}}))
    task = node("task", "action", tool="create_task", arguments={"title": "x"})
    grid_id = await create(call_tool, ws, [START, task], chain("start", "task"))
    done = await advance(sessions, ws, await start(call_tool, ws, grid_id))
    assert done.status == "paused"
    [pending] = await rows(sessions, ws, AgentPendingAction)
    assert pending.reasons == ["the workspace requires approval for this tool"]
    assert isinstance(pending.id, uuid.UUID)
