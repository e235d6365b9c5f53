"""Approvals end to end: a risky call waits, a person decides, the stored call runs once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa

from assistant.approvals import ApprovalRefused
from assistant.runtime import Runtime
from store.db import Database
from store.errors import Conflict, NotFound
from store.models.ai import NeptuneActionHistory
from store.models.core import MemberRole
from store.models.crm import Contact
from store.models.orchestration import AgentPendingAction
from store.repositories.base import utcnow
from store.repositories.neptune import AutonomyRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace
from tests.model_server import Call, ModelServer, Text, ToolCalls
from tests.runtime.conftest import Chat
from tests.runtime.test_turns import kinds, rows
from tools.context import Caller

ADD_ADA = ToolCalls([Call("add_contact", {"first_name": "Ada", "email": "ada@example.com"},
                          id="call_add")])


async def propose(runtime: Runtime, server: ModelServer, chat: Chat) -> AgentPendingAction:
    server.script(ADD_ADA, Text("Adding Ada is waiting for your approval."))
    async with await runtime.send(chat.caller, chat.conversation_id, "add Ada") as turn:
        events = await turn.collect()
    required = next(e for e in events if e.type == "approval.required")
    finished = next(e for e in events if e.type == "tool.finished")
    assert finished.status == "awaiting_approval" and required.title == "Add contact Ada"
    told = server.requests[1].messages[-1]
    assert told["role"] == "tool" and "awaiting_approval" in told["content"]
    [pending] = await rows_pending(runtime, chat)
    return pending


async def rows_pending(runtime: Runtime, chat: Chat) -> list[AgentPendingAction]:
    async with scoped_session(runtime.deps.database.sessions, chat.ws.scope) as session:
        result = await session.scalars(sa.select(AgentPendingAction).where(
            AgentPendingAction.workspace_id == chat.ws.workspace_id))
        return list(result.all())


async def contacts(database: Database, chat: Chat) -> list[str | None]:
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        return list((await session.scalars(sa.select(Contact.first_name).where(
            Contact.workspace_id == chat.ws.workspace_id))).all())


async def test_approval_end_to_end_runs_once(runtime: Runtime, server: ModelServer, chat: Chat,
                                             database: Database) -> None:
    pending = await propose(runtime, server, chat)
    assert pending.status == "pending" and pending.tool_arguments == {
        "first_name": "Ada", "email": "ada@example.com"}
    assert await contacts(database, chat) == []

    server.script(Text("Ada is in your CRM now."))
    results = await asyncio.gather(
        runtime.decide(chat.caller, pending.id, approve=True),
        runtime.decide(chat.caller, pending.id, approve=True), return_exceptions=True)
    turns = [r for r in results if not isinstance(r, BaseException)]
    errors = [r for r in results if isinstance(r, BaseException)]
    assert len(turns) == 1 and len(errors) == 1 and isinstance(errors[0], Conflict)
    async with turns[0] as turn:
        events = await turn.collect()
    assert kinds(events)[:3] == ["approval.resolved", "tool.started", "tool.finished"]
    assert events[2].status == "success"
    assert await contacts(database, chat) == ["Ada"]

    continued = server.requests[-1].messages
    assert continued[-2]["tool_calls"][0]["function"]["name"] == "add_contact"
    assert '"ok":true' in continued[-1]["content"]
    [decided] = await rows_pending(runtime, chat)
    assert decided.status == "executed" and decided.reviewed_by == chat.ws.user_id
    [history] = await rows(database, chat, NeptuneActionHistory)
    assert history.status == "success" and history.approved_by == chat.ws.user_id
    assert not history.automatic


async def test_reject_tells_the_model_and_runs_nothing(runtime: Runtime, server: ModelServer,
                                                       chat: Chat, database: Database) -> None:
    pending = await propose(runtime, server, chat)
    server.script(Text("Understood, I did not add Ada."))
    async with await runtime.decide(chat.caller, pending.id, approve=False,
                                    notes="wrong person") as turn:
        events = await turn.collect()
    assert events[0].decision == "rejected"
    assert await contacts(database, chat) == []
    told = server.requests[-1].messages[-1]
    assert "rejected" in told["content"] and "wrong person" in told["content"]
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        autonomy = await AutonomyRepository(session, chat.ws.scope).find_for(
            chat.ws.user_id, "add_contact")
    assert autonomy is not None and autonomy.rejections == 1
    with pytest.raises(Conflict):
        await runtime.decide(chat.caller, pending.id, approve=True)


async def test_expired_action_cannot_run(runtime: Runtime, server: ModelServer, chat: Chat,
                                         database: Database) -> None:
    pending = await propose(runtime, server, chat)
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        await session.execute(sa.update(AgentPendingAction).where(
            AgentPendingAction.workspace_id == chat.ws.workspace_id,
            AgentPendingAction.id == pending.id).values(expires_at=utcnow() - timedelta(1)))
    with pytest.raises(Conflict, match="expired"):
        await runtime.decide(chat.caller, pending.id, approve=True)
    assert await contacts(database, chat) == []


async def test_only_allowed_people_decide(runtime: Runtime, server: ModelServer, chat: Chat,
                                          make_workspace: MakeWorkspace) -> None:
    pending = await propose(runtime, server, chat)
    other = await make_workspace()
    stranger = Caller.for_member(other.workspace_id, other.user_id, MemberRole.OWNER)
    with pytest.raises(NotFound):
        await runtime.decide(stranger, pending.id, approve=True)
    viewer = Caller.for_member(chat.ws.workspace_id, chat.ws.user_id, MemberRole.VIEWER)
    with pytest.raises(ApprovalRefused):
        await runtime.decide(viewer, pending.id, approve=True)


async def test_medium_risk_runs_unasked_once_the_user_enabled_it(
    runtime: Runtime, server: ModelServer, chat: Chat, database: Database
) -> None:
    async with scoped_session(database.sessions, chat.ws.scope) as session:
        autonomy = AutonomyRepository(session, chat.ws.scope)
        for _ in range(5):
            await autonomy.record_approval(chat.ws.user_id, "add_contact")
        await autonomy.enable_auto_execute(chat.ws.user_id, "add_contact")
    server.script(ADD_ADA, Text("Added."))
    async with await runtime.send(chat.caller, chat.conversation_id, "add Ada") as turn:
        events = await turn.collect()
    assert "approval.required" not in kinds(events)
    assert await contacts(database, chat) == ["Ada"]
    [history] = await rows(database, chat, NeptuneActionHistory)
    assert history.automatic and history.status == "success"


async def test_critical_always_asks_and_viewers_never_see_write_tools(
    runtime: Runtime, server: ModelServer, chat: Chat, database: Database
) -> None:
    server.script(ToolCalls([Call("delete_contact",
                                  {"contact_id": "00000000-0000-0000-0000-000000000001"})]),
                  Text("Waiting for approval."))
    async with await runtime.send(chat.caller, chat.conversation_id, "delete") as turn:
        events = await turn.collect()
    assert "approval.required" in kinds(events)
    viewer = Caller.for_member(chat.ws.workspace_id, chat.ws.user_id, MemberRole.VIEWER)
    server.script(ToolCalls([Call("add_contact", {"first_name": "Eve", "email": "e@x.io"})]),
                  Text("I cannot do that."))
    async with await runtime.send(viewer, chat.conversation_id, "add Eve") as turn:
        events = await turn.collect()
    offered = {t["function"]["name"] for t in server.requests[-2].tools}
    assert offered == {"count_contacts", "echo", "explode"}
    refused = next(e for e in events if e.type == "tool.finished")
    assert refused.status == "refused" and "member role" in (refused.error or "")
    assert await contacts(database, chat) == []
