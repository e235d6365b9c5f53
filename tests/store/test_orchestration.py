"""Orchestration repositories against the real database: teams, messages, workflows, shared
memory, approvals (including two approvers racing) and the audit log."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import agents as agents_demo
from store.demo import crm as crm_demo
from store.demo import orchestration as orchestration_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.orchestration import (
    ActionTrigger,
    ApprovalStatus,
    Department,
    MemoryCategory,
    MemoryTier,
    MessageStatus,
    MessageType,
    RiskLevel,
    TeamRole,
    TeamStatus,
    WorkflowRunStatus,
    WorkflowStatus,
    WorkflowTrigger,
)
from store.repositories.agents import AgentRepository
from store.repositories.orchestration import (
    AgentActionAuditLogRepository,
    AgentMessageRepository,
    AgentPendingActionRepository,
    AgentSharedMemoryRepository,
    AgentTeamMemberRepository,
    AgentTeamRepository,
    AgentWorkflowExecutionRepository,
    AgentWorkflowRepository,
)
from store.tenancy import WorkspaceScope, scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]


async def _agents(s: AsyncSession, scope: WorkspaceScope, *names: str) -> list[uuid.UUID]:
    repo = AgentRepository(s, scope)
    return [(await repo.create(name=name)).id for name in names]


async def test_teams_members_roster_and_counters(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        lead, notes, caller = await _agents(s, ws.scope, "Lead", "Notes", "Caller")
        teams = AgentTeamRepository(s, ws.scope)
        members = AgentTeamMemberRepository(s, ws.scope)
        pod = await teams.create(
            name="Sales Pod",
            department=Department.SALES,
            coordinator_agent_id=lead,
            created_by=ws.user_id,
        )
        other = await teams.create(name="Ops", department=Department.OPERATIONS)
        await members.add(pod.id, caller, role=TeamRole.SUPPORT, priority=5)
        await members.add(pod.id, lead, role=TeamRole.COORDINATOR, priority=0)
        seat = await members.add(pod.id, notes)
        assert seat.priority == 6 and seat.role == TeamRole.SPECIALIST
        await members.add(other.id, notes)
        roster = await teams.roster(pod.id)
        assert [a.name for a in roster.agents] == ["Lead", "Caller", "Notes"]
        assert [x.member.role for x in roster.seats] == [
            TeamRole.COORDINATOR,
            TeamRole.SUPPORT,
            TeamRole.SPECIALIST,
        ]
        assert [m.agent_id for m in await members.for_team(pod.id)] == [lead, caller, notes]
        assert {m.team_id for m in await members.teams_of(notes)} == {pod.id, other.id}
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await AgentTeamMemberRepository(s, ws.scope).add(pod.id, lead)

    async with scoped_session(sessions, ws.scope) as s:
        teams = AgentTeamRepository(s, ws.scope)
        await teams.record_run(pod.id, succeeded=True)
        counted = await teams.record_run(pod.id, succeeded=False)
        assert (counted.total_executions, counted.successful_executions) == (2, 1)
        assert counted.last_active_at is not None
        assert [t.name for t in (await teams.search(department=Department.SALES)).items] == [
            "Sales Pod"
        ]
        assert (await teams.archive(other.id)).status == TeamStatus.ARCHIVED
        assert [t.id for t in (await teams.search(status=TeamStatus.ACTIVE)).items] == [pod.id]
        assert len((await teams.list(limit=1)).items) == 1
        updated = await teams.update(pod.id, description="Books meetings")
        assert updated.description == "Books meetings"
        await teams.delete(other.id)
        assert await AgentTeamMemberRepository(s, ws.scope).count(team_id=other.id) == 0
        with pytest.raises(NotFound):
            await teams.record_run(uuid.uuid4(), succeeded=True)


async def test_messages_threads_inbox_and_status(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        a, b = await _agents(s, ws.scope, "A", "B")
        team = await AgentTeamRepository(s, ws.scope).create(name="T")
        bus = AgentMessageRepository(s, ws.scope)
        task = await bus.send(
            MessageType.TASK,
            {"subject": "Research Acme", "body": "..."},
            from_agent_id=a,
            to_agent_id=b,
            team_id=team.id,
        )
        reply = await bus.send(
            MessageType.RESULT,
            {"subject": "Re: Research Acme"},
            from_agent_id=b,
            to_agent_id=a,
            parent_message_id=task.id,
        )
        again = await bus.send(
            MessageType.QUERY,
            {"subject": "Which Acme?"},
            from_agent_id=a,
            to_agent_id=b,
            parent_message_id=reply.id,
        )
        unrelated = await bus.send(MessageType.STATUS, {"subject": "idle"}, to_agent_id=b)
        assert reply.thread_id == again.thread_id == task.thread_id != unrelated.thread_id
        assert reply.team_id == team.id
        assert [m.id for m in await bus.thread(task.thread_id)] == [task.id, reply.id, again.id]
        assert {m.id for m in (await bus.inbox(b)).items} == {task.id, again.id, unrelated.id}
        read = await bus.mark(task.id, MessageStatus.READ)
        assert read.read_at is not None and read.delivered_at is None
        await bus.mark(task.id, MessageStatus.PROCESSED)
        assert {m.id for m in (await bus.inbox(b)).items} == {again.id, unrelated.id}
        assert len((await bus.inbox(b, unprocessed_only=False)).items) == 3
        with pytest.raises(NotFound):
            await bus.send(MessageType.RESULT, {}, parent_message_id=uuid.uuid4())


async def test_workflow_runs_steps_and_counters(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        (agent,) = await _agents(s, ws.scope, "Worker")
        team = await AgentTeamRepository(s, ws.scope).create(name="T")
        workflows = AgentWorkflowRepository(s, ws.scope)
        runs = AgentWorkflowExecutionRepository(s, ws.scope)
        steps = [
            {"id": "one", "name": "First", "agentId": str(agent), "action": "a"},
            {"id": "two", "name": "Second", "agentId": str(agent), "action": "b"},
        ]
        flow = await workflows.create(
            name="Lead follow-up",
            team_id=team.id,
            steps=steps,
            trigger_type=WorkflowTrigger.EVENT,
            category="sales",
        )
        await workflows.create(name="Other", category="ops")
        assert [w.id for w in (await workflows.search(team_id=team.id)).items] == [flow.id]
        assert [w.name for w in (await workflows.search(category="ops")).items] == ["Other"]
        assert len((await workflows.search(trigger_type=WorkflowTrigger.EVENT)).items) == 1
        with pytest.raises(Conflict, match="draft"):
            await runs.start(flow.id)
        await workflows.update(flow.id, status=WorkflowStatus.ACTIVE)
        run = await runs.start(flow.id, trigger_data={"contact": "x"}, triggered_by=ws.user_id)
        assert (run.status, run.current_step_id, run.total_steps) == (
            WorkflowRunStatus.RUNNING,
            "one",
            2,
        )
        run = await runs.record_step(run.id, "one", {"status": "completed"}, next_step_id="two")
        run = await runs.record_step(run.id, "two", {"status": "completed"})
        assert run.completed_steps == 2 and run.current_step_id is None
        assert set(run.step_results) == {"one", "two"}
        done = await runs.finish(run.id, WorkflowRunStatus.COMPLETED)
        assert done.completed_at is not None and done.duration_ms is not None
        with pytest.raises(Conflict, match="already ended"):
            await runs.finish(run.id, WorkflowRunStatus.FAILED)
        with pytest.raises(InvalidArgument):
            await runs.finish(run.id, WorkflowRunStatus.PAUSED)
        failed = await runs.start(flow.id)
        await runs.finish(failed.id, WorkflowRunStatus.FAILED, error={"message": "timeout"})
        await s.refresh(flow)
        assert (flow.total_executions, flow.successful_executions) == (2, 1)
        assert flow.avg_duration_ms is not None and flow.last_executed_at is not None
        assert [
            r.id for r in (await runs.for_workflow(flow.id, status=WorkflowRunStatus.FAILED)).items
        ] == [failed.id]
        assert len((await runs.for_workflow(flow.id)).items) == 2
        assert (await workflows.archive(flow.id)).status == WorkflowStatus.ARCHIVED


async def test_shared_memory_scopes_upsert_and_expiry(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        (agent,) = await _agents(s, ws.scope, "Caller")
        team = await AgentTeamRepository(s, ws.scope).create(name="T")
        memory = AgentSharedMemoryRepository(s, ws.scope)
        everyone = await memory.put("timezone", "UTC")
        teams = await memory.put("timezone", "Europe/Paris", team_id=team.id, importance=90)
        mine = await memory.put("timezone", {"tz": "Asia/Tokyo"}, agent_id=agent)
        assert len({everyone.id, teams.id, mine.id}) == 3
        replaced = await memory.put(
            "timezone",
            "America/Chicago",
            tier=MemoryTier.LONG_TERM,
            category=MemoryCategory.PREFERENCE,
            importance=10,
        )
        assert replaced.id == everyone.id and replaced.value == "America/Chicago"
        assert replaced.memory_tier == MemoryTier.LONG_TERM
        assert await memory.count(key="timezone") == 3
        found = await memory.get_by_key("timezone", team_id=team.id)
        assert found is not None and found.value == "Europe/Paris"
        got = await memory.get_by_key("timezone")
        assert got is not None and got.value == "America/Chicago"
        assert (await memory.get_by_key("timezone", agent_id=agent)).value == {"tz": "Asia/Tokyo"}
        assert await memory.get_by_key("nothing") is None

        past = datetime.now(UTC) - timedelta(minutes=1)
        await memory.put("stale", [1, 2], team_id=team.id, expires_at=past)
        await memory.put("fresh", True, team_id=team.id, importance=95)
        assert await memory.get_by_key("stale", team_id=team.id) is None
        top = await memory.most_important(team_id=team.id)
        assert [m.key for m in top] == ["fresh", "timezone"]
        assert [m.key for m in await memory.most_important(team_id=team.id, limit=1)] == ["fresh"]
        assert await memory.purge_expired() == 1
        assert await memory.forget("fresh", team_id=team.id) is True
        assert await memory.forget("fresh", team_id=team.id) is False
    with pytest.raises(InvalidArgument):
        async with scoped_session(sessions, ws.scope) as s:
            await AgentSharedMemoryRepository(s, ws.scope).put("bad", 1, importance=101)


async def test_shared_memory_refuses_another_workspaces_team(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await AgentTeamRepository(s, b.scope).create(name="Theirs")
    with pytest.raises(NotFound):
        async with scoped_session(sessions, a.scope) as s:
            await AgentSharedMemoryRepository(s, a.scope).put("k", 1, team_id=theirs.id)


async def _request(
    repo: AgentPendingActionRepository, key: str, user: uuid.UUID | None, **values: object
) -> uuid.UUID:
    action = await repo.request(
        tool_name="send_email",
        tool_arguments={"to": "ada@example.com", "subject": "Hi"},
        risk_level=RiskLevel.HIGH,
        title="Email Ada",
        idempotency_key=key,
        user_id=user,
        reasons=["external email"],
        **values,
    )
    return action.id


async def test_pending_actions_lifecycle(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    conversation = uuid.uuid4()
    async with scoped_session(sessions, ws.scope) as s:
        repo = AgentPendingActionRepository(s, ws.scope)
        first = await _request(repo, "turn-1:call-1", ws.user_id, conversation_id=conversation)
        assert await _request(repo, "turn-1:call-1", ws.user_id) == first
        second = await _request(repo, "turn-2:call-1", None)
        late = await _request(
            repo, "turn-3:call-1", ws.user_id, expires_at=datetime.now(UTC) - timedelta(seconds=1)
        )
        stored = await repo.get(first)
        assert stored.tool_arguments == {"to": "ada@example.com", "subject": "Hi"}
        assert stored.action_type == "send_email" and stored.reasons == ["external email"]
        assert [a.id for a in await repo.list_pending()] == [first, second]
        assert [a.id for a in await repo.list_pending(ws.user_id)] == [first]
        assert [a.id for a in await repo.list_pending(conversation_id=conversation)] == [first]

        approved = await repo.decide(first, ApprovalStatus.APPROVED, ws.user_id, channel="slack")
        assert approved.status == ApprovalStatus.APPROVED and approved.reviewed_at is not None
        assert approved.reviewed_by == ws.user_id and approved.review_channel == "slack"
        with pytest.raises(Conflict, match="already approved"):
            await repo.decide(first, ApprovalStatus.REJECTED, ws.user_id)
        with pytest.raises(Conflict, match="expired"):
            await repo.decide(late, ApprovalStatus.APPROVED, ws.user_id)
        with pytest.raises(InvalidArgument):
            await repo.decide(second, ApprovalStatus.EXECUTED, ws.user_id)
        with pytest.raises(Conflict, match="pending"):
            await repo.complete(second, ApprovalStatus.EXECUTED, {"ok": True})
        executed = await repo.complete(first, ApprovalStatus.EXECUTED, {"message_id": "m1"})
        assert executed.result == {"message_id": "m1"} and executed.executed_at is not None
        with pytest.raises(Conflict, match="already executed"):
            await repo.complete(first, ApprovalStatus.EXECUTED, {"message_id": "m2"})
        rejected = await repo.decide(second, ApprovalStatus.REJECTED, ws.user_id, notes="No")
        assert rejected.review_notes == "No"
        assert await repo.expire_overdue() == [late]
        assert (await repo.get(late)).status == ApprovalStatus.EXPIRED
        assert await repo.expire_overdue() == []
        assert await repo.list_pending() == []
        assert (await repo.by_idempotency_key("turn-2:call-1")).id == second  # type: ignore[union-attr]
        with pytest.raises(NotFound):
            await repo.decide(uuid.uuid4(), ApprovalStatus.APPROVED, ws.user_id)


async def test_two_concurrent_approvals_exactly_one_wins(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        action_id = await _request(AgentPendingActionRepository(s, ws.scope), "race", ws.user_id)

    async def approve(channel: str) -> str:
        try:
            async with scoped_session(sessions, ws.scope) as s:
                repo = AgentPendingActionRepository(s, ws.scope)
                await repo.decide(action_id, ApprovalStatus.APPROVED, ws.user_id, channel=channel)
                await asyncio.sleep(0.05)  # hold the row lock so the other approver must wait
            return "won"
        except Conflict:
            return "lost"

    outcomes = await asyncio.gather(approve("web"), approve("slack"), approve("voice"))
    assert sorted(outcomes) == ["lost", "lost", "won"]
    async with scoped_session(sessions, ws.scope) as s:
        row = await AgentPendingActionRepository(s, ws.scope).get(action_id)
        assert row.status == ApprovalStatus.APPROVED
        assert row.review_channel in {"web", "slack", "voice"}


async def test_pending_action_of_another_workspace_is_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        theirs = await _request(AgentPendingActionRepository(s, b.scope), "k", b.user_id)
    async with scoped_session(sessions, a.scope) as s:
        repo = AgentPendingActionRepository(s, a.scope)
        with pytest.raises(NotFound):
            await repo.decide(theirs, ApprovalStatus.APPROVED, a.user_id)
        assert await repo.list_pending() == []
        assert await repo.by_idempotency_key("k") is None
        assert await repo.expire_overdue() == []
        await _request(repo, "k", a.user_id)  # the same key is free in another workspace
    async with scoped_session(sessions, b.scope) as s:
        assert (await AgentPendingActionRepository(s, b.scope).get(theirs)).status == "pending"


async def test_audit_log_is_append_only(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        (agent,) = await _agents(s, ws.scope, "Mailer")
        log = AgentActionAuditLogRepository(s, ws.scope)
        t0 = datetime.now(UTC)
        entries = []
        for i in range(3):
            entry = await log.append(
                "send_email",
                success=i != 1,
                triggered_by=ActionTrigger.AGENT,
                agent_id=agent,
                action_details={"n": i},
                risk_level=RiskLevel.HIGH,
                executed_at=t0 + timedelta(i),
            )
            entries.append(entry.id)
        await log.append(
            "create_note",
            success=True,
            triggered_by=ActionTrigger.USER,
            triggered_by_user_id=ws.user_id,
            executed_at=t0 - timedelta(days=1),
        )
        assert [e.id for e in (await log.recent(agent_id=agent)).items] == entries[::-1]
        assert [e.id for e in (await log.recent(success=False)).items] == [entries[1]]
        assert len((await log.recent(limit=2)).items) == 2
        with pytest.raises(InvalidArgument, match="append-only"):
            await log.update(entries[0], success=True)
        with pytest.raises(InvalidArgument, match="append-only"):
            await log.delete(entries[0])
        with pytest.raises(NotFound):
            await log.delete(uuid.uuid4())
        assert (await log.get(entries[1])).success is False


async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5)
        for module in (crm_demo, agents_demo, orchestration_demo):
            await module.seed(ctx)
        teams = AgentTeamRepository(s, ws.scope)
        assert await teams.count() == 2
        for team in (await teams.list()).items:
            roster = await teams.roster(team.id)
            assert roster.seats and roster.seats[0].member.role == TeamRole.COORDINATOR
        pending = await AgentPendingActionRepository(s, ws.scope).list_pending()
        assert len(pending) == 3 and {p.risk_level for p in pending} >= {RiskLevel.CRITICAL}
        assert (
            await AgentPendingActionRepository(s, ws.scope).count(status=ApprovalStatus.EXECUTED)
            == 1
        )
        workflows = await AgentWorkflowRepository(s, ws.scope).list()
        assert all(w.total_executions >= 3 for w in workflows.items)
        memory = AgentSharedMemoryRepository(s, ws.scope)
        assert (await memory.get_by_key("company_timezone")) is not None
        message = (await AgentMessageRepository(s, ws.scope).list(limit=1)).items[0]
        assert await AgentMessageRepository(s, ws.scope).thread(message.thread_id)
        assert await AgentActionAuditLogRepository(s, ws.scope).count() >= 5
