"""Orchestration repositories: teams and members, the agent message bus, workflows and their
runs, shared memory, the approval queue and the action audit log.

State changes that must happen once (an approval decision, an approved call's completion) are
single conditional UPDATEs with RETURNING: the row moves only if it is still in the state the
caller saw, so of two concurrent deciders exactly one wins and the other gets `Conflict`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert

from store.errors import Conflict, InvalidArgument, NotFound
from store.models.agents import Agent
from store.models.orchestration import (
    ActionTrigger,
    AgentActionAuditLog,
    AgentMessage,
    AgentPendingAction,
    AgentSharedMemory,
    AgentTeam,
    AgentTeamMember,
    AgentWorkflow,
    AgentWorkflowExecution,
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
from store.pagination import Page
from store.repositories.base import Repository, utcnow

# -- teams ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamSeat:
    member: AgentTeamMember
    agent: Agent


@dataclass(frozen=True)
class TeamRoster:
    team: AgentTeam
    seats: list[TeamSeat]

    @property
    def agents(self) -> list[Agent]:
        return [seat.agent for seat in self.seats]


class AgentTeamRepository(Repository[AgentTeam]):
    model = AgentTeam
    sortable = frozenset({"created_at", "updated_at", "name"})
    archive_values = {"status": TeamStatus.ARCHIVED}

    async def search(
        self, *, department: Department | None = None, status: TeamStatus | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[AgentTeam]:
        where: list[sa.ColumnElement[bool]] = []
        if department is not None:
            where.append(AgentTeam.department == department)
        if status is not None:
            where.append(AgentTeam.status == status)
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)

    async def roster(self, team_id: uuid.UUID) -> TeamRoster:
        """The team and its agents in execution order (priority, then seat age)."""
        team = await self.get(team_id)
        stmt = (
            sa.select(AgentTeamMember, Agent)
            .join(Agent, sa.and_(Agent.workspace_id == AgentTeamMember.workspace_id,
                                 Agent.id == AgentTeamMember.agent_id))
            .where(AgentTeamMember.workspace_id == self.scope.workspace_id,
                   AgentTeamMember.team_id == team_id)
            .order_by(AgentTeamMember.priority, AgentTeamMember.created_at, AgentTeamMember.id)
        )
        rows = (await self.session.execute(stmt)).all()
        return TeamRoster(team, [TeamSeat(member, agent) for member, agent in rows])

    async def record_run(self, team_id: uuid.UUID, *, succeeded: bool) -> AgentTeam:
        """Count one team execution atomically (concurrent runs must not lose increments)."""
        row: AgentTeam | None = await self.session.scalar(
            sa.update(AgentTeam)
            .where(AgentTeam.workspace_id == self.scope.workspace_id, AgentTeam.id == team_id)
            .values(
                total_executions=AgentTeam.total_executions + 1,
                successful_executions=AgentTeam.successful_executions + int(succeeded),
                last_active_at=sa.func.now(),
            )
            .returning(AgentTeam),
            execution_options={"populate_existing": True},
        )
        if row is None:
            raise NotFound(self.entity, team_id)
        return row


class AgentTeamMemberRepository(Repository[AgentTeamMember]):
    model = AgentTeamMember

    async def add(
        self, team_id: uuid.UUID, agent_id: uuid.UUID, *, role: TeamRole = TeamRole.SPECIALIST,
        priority: int | None = None, config: Mapping[str, Any] | None = None,
    ) -> AgentTeamMember:
        """Seat an agent on a team; without a priority it goes last."""
        if priority is None:
            current = await self.session.scalar(
                sa.select(sa.func.max(AgentTeamMember.priority)).where(
                    AgentTeamMember.workspace_id == self.scope.workspace_id,
                    AgentTeamMember.team_id == team_id,
                )
            )
            priority = 0 if current is None else current + 1
        return await self.create(
            team_id=team_id, agent_id=agent_id, role=role, priority=priority,
            config=dict(config or {}),
        )

    async def for_team(self, team_id: uuid.UUID) -> list[AgentTeamMember]:
        return await self._all(
            AgentTeamMember.team_id == team_id,
            order_by=[AgentTeamMember.priority, AgentTeamMember.created_at, AgentTeamMember.id],
        )

    async def teams_of(self, agent_id: uuid.UUID) -> list[AgentTeamMember]:
        return await self._all(AgentTeamMember.agent_id == agent_id,
                               order_by=[AgentTeamMember.created_at])


# -- messages ------------------------------------------------------------------------------

_STATUS_STAMP = {
    MessageStatus.DELIVERED: "delivered_at",
    MessageStatus.READ: "read_at",
    MessageStatus.PROCESSED: "processed_at",
}


class AgentMessageRepository(Repository[AgentMessage]):
    model = AgentMessage

    async def send(
        self, message_type: MessageType, content: Mapping[str, Any], *,
        from_agent_id: uuid.UUID | None = None, to_agent_id: uuid.UUID | None = None,
        team_id: uuid.UUID | None = None, parent_message_id: uuid.UUID | None = None,
    ) -> AgentMessage:
        """Post a message; a reply joins its parent's thread, anything else starts one.

        `created_at` is the wall clock, not the transaction start, so messages posted in one
        transaction still read back in the order they were sent.
        """
        thread_id = uuid.uuid4()
        if parent_message_id is not None:
            parent = await self.get(parent_message_id)
            thread_id = parent.thread_id
            team_id = team_id or parent.team_id
        return await self.create(
            message_type=message_type, content=dict(content), from_agent_id=from_agent_id,
            to_agent_id=to_agent_id, team_id=team_id, parent_message_id=parent_message_id,
            thread_id=thread_id, created_at=utcnow(),
        )

    async def thread(self, thread_id: uuid.UUID) -> list[AgentMessage]:
        """A whole thread, oldest first."""
        return await self._all(
            AgentMessage.thread_id == thread_id,
            order_by=[AgentMessage.created_at, AgentMessage.id],
        )

    async def inbox(
        self, agent_id: uuid.UUID, *, unprocessed_only: bool = True, limit: int = 50,
        cursor: str | None = None,
    ) -> Page[AgentMessage]:
        where = [AgentMessage.to_agent_id == agent_id]
        if unprocessed_only:
            where.append(AgentMessage.status != MessageStatus.PROCESSED)
        return await self._page(*where, limit=limit, cursor=cursor)

    async def mark(self, message_id: uuid.UUID, status: MessageStatus) -> AgentMessage:
        """Move a message along pending -> delivered -> read -> processed, stamping the time."""
        stamp = _STATUS_STAMP.get(MessageStatus(status))
        values: dict[str, Any] = {"status": status}
        if stamp is not None:
            values[stamp] = utcnow()
        return await self.update(message_id, **values)


# -- workflows -----------------------------------------------------------------------------


class AgentWorkflowRepository(Repository[AgentWorkflow]):
    model = AgentWorkflow
    sortable = frozenset({"created_at", "updated_at", "name"})
    archive_values = {"status": WorkflowStatus.ARCHIVED}

    async def search(
        self, *, team_id: uuid.UUID | None = None, status: WorkflowStatus | None = None,
        trigger_type: WorkflowTrigger | None = None, category: str | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[AgentWorkflow]:
        where: list[sa.ColumnElement[bool]] = []
        if team_id is not None:
            where.append(AgentWorkflow.team_id == team_id)
        if status is not None:
            where.append(AgentWorkflow.status == status)
        if trigger_type is not None:
            where.append(AgentWorkflow.trigger_type == trigger_type)
        if category is not None:
            where.append(AgentWorkflow.category == category)
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)


class AgentWorkflowExecutionRepository(Repository[AgentWorkflowExecution]):
    model = AgentWorkflowExecution
    sortable = frozenset({"created_at", "updated_at", "started_at"})

    async def for_workflow(
        self, workflow_id: uuid.UUID, *, status: WorkflowRunStatus | None = None,
        limit: int = 20, cursor: str | None = None,
    ) -> Page[AgentWorkflowExecution]:
        where = [AgentWorkflowExecution.workflow_id == workflow_id]
        if status is not None:
            where.append(AgentWorkflowExecution.status == status)
        return await self._page(*where, limit=limit, cursor=cursor, sort="started_at")

    async def start(
        self, workflow_id: uuid.UUID, *, trigger_type: WorkflowTrigger = WorkflowTrigger.MANUAL,
        trigger_data: Mapping[str, Any] | None = None, triggered_by: uuid.UUID | None = None,
    ) -> AgentWorkflowExecution:
        """A running execution positioned on the workflow's first step."""
        return await self._open(workflow_id, WorkflowRunStatus.RUNNING, trigger_type,
                                trigger_data, triggered_by)

    async def queue(
        self, workflow_id: uuid.UUID, *, trigger_type: WorkflowTrigger = WorkflowTrigger.MANUAL,
        trigger_data: Mapping[str, Any] | None = None, triggered_by: uuid.UUID | None = None,
    ) -> AgentWorkflowExecution:
        """A pending execution on the workflow's first step: the worker lists it as due work
        (`workflow_run`) and claims it. The workflow must be active."""
        return await self._open(workflow_id, WorkflowRunStatus.PENDING, trigger_type,
                                trigger_data, triggered_by)

    async def _open(
        self, workflow_id: uuid.UUID, status: WorkflowRunStatus, trigger_type: WorkflowTrigger,
        trigger_data: Mapping[str, Any] | None, triggered_by: uuid.UUID | None,
    ) -> AgentWorkflowExecution:
        workflow = await AgentWorkflowRepository(self.session, self.scope).get(workflow_id)
        if workflow.status != WorkflowStatus.ACTIVE:
            raise Conflict(f"workflow {workflow.name!r} is {workflow.status}, not active")
        first = workflow.steps[0].get("id") if workflow.steps else None
        return await self.create(
            workflow_id=workflow_id, trigger_type=trigger_type, triggered_by=triggered_by,
            trigger_data=dict(trigger_data or {}), total_steps=len(workflow.steps),
            current_step_id=first, started_at=utcnow(), status=status,
        )

    async def claim(self, execution_id: uuid.UUID) -> AgentWorkflowExecution | None:
        """pending -> running, once: of two workers claiming the same run one gets it back, the
        other None. A paused run is put back to pending (`resume`) before it is claimed again."""
        return await self._move(execution_id, WorkflowRunStatus.PENDING,
                                status=WorkflowRunStatus.RUNNING, paused_at=None)

    async def pause(
        self, execution_id: uuid.UUID, context: Mapping[str, Any]
    ) -> AgentWorkflowExecution | None:
        """running -> paused (a step waits for a person), keeping what a resume needs."""
        return await self._move(execution_id, WorkflowRunStatus.RUNNING,
                                status=WorkflowRunStatus.PAUSED, paused_at=sa.func.now(),
                                context=dict(context))

    async def resume(self, execution_id: uuid.UUID) -> AgentWorkflowExecution | None:
        """paused -> pending, so the worker picks the run up again where it stopped."""
        return await self._move(execution_id, WorkflowRunStatus.PAUSED,
                                status=WorkflowRunStatus.PENDING)

    async def _move(
        self, execution_id: uuid.UUID, expected: WorkflowRunStatus, **values: Any
    ) -> AgentWorkflowExecution | None:
        row: AgentWorkflowExecution | None = await self.session.scalar(
            sa.update(AgentWorkflowExecution)
            .where(AgentWorkflowExecution.workspace_id == self.scope.workspace_id,
                   AgentWorkflowExecution.id == execution_id,
                   AgentWorkflowExecution.status == expected)
            .values(**values, updated_at=sa.func.now())
            .returning(AgentWorkflowExecution),
            execution_options={"populate_existing": True, "synchronize_session": False},
        )
        return row

    async def record_step(
        self, execution_id: uuid.UUID, step_id: str, result: Mapping[str, Any],
        *, next_step_id: str | None = None,
    ) -> AgentWorkflowExecution:
        """Store one step's result and advance to `next_step_id` (None: no further step)."""
        run = await self._running(execution_id)
        return await self.update(
            execution_id,
            step_results={**run.step_results, step_id: dict(result)},
            completed_steps=run.completed_steps + 1,
            current_step_index=run.current_step_index + (1 if next_step_id else 0),
            current_step_id=next_step_id,
        )

    async def finish(
        self, execution_id: uuid.UUID, status: WorkflowRunStatus, *,
        error: Mapping[str, Any] | None = None,
    ) -> AgentWorkflowExecution:
        """End a run and fold it into the workflow's counters and running average duration."""
        if not WorkflowRunStatus(status).is_final:
            raise InvalidArgument(f"{status} is not a final workflow status")
        run = await self._running(execution_id)
        now = utcnow()
        duration = int((now - run.started_at).total_seconds() * 1000)
        succeeded = status == WorkflowRunStatus.COMPLETED
        await self.session.execute(
            sa.update(AgentWorkflow)
            .where(AgentWorkflow.workspace_id == self.scope.workspace_id,
                   AgentWorkflow.id == run.workflow_id)
            .values(
                avg_duration_ms=sa.func.round(
                    (sa.func.coalesce(AgentWorkflow.avg_duration_ms, 0)
                     * AgentWorkflow.total_executions + duration)
                    / (AgentWorkflow.total_executions + 1.0)
                ),
                total_executions=AgentWorkflow.total_executions + 1,
                successful_executions=AgentWorkflow.successful_executions + int(succeeded),
                last_executed_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return await self.update(
            execution_id, status=status, completed_at=now, duration_ms=duration,
            error=None if error is None else dict(error),
        )

    async def _running(self, execution_id: uuid.UUID) -> AgentWorkflowExecution:
        run = await self.get(execution_id)
        if run.status.is_final:
            raise Conflict(f"workflow execution {execution_id} already ended ({run.status})")
        return run


# -- shared memory -------------------------------------------------------------------------


class AgentSharedMemoryRepository(Repository[AgentSharedMemory]):
    model = AgentSharedMemory
    sortable = frozenset({"created_at", "updated_at", "importance"})

    def _scope_is(
        self, team_id: uuid.UUID | None, agent_id: uuid.UUID | None
    ) -> list[sa.ColumnElement[bool]]:
        return [
            AgentSharedMemory.team_id.is_not_distinct_from(team_id),
            AgentSharedMemory.agent_id.is_not_distinct_from(agent_id),
        ]

    def _live(self) -> sa.ColumnElement[bool]:
        return sa.or_(AgentSharedMemory.expires_at.is_(None),
                      AgentSharedMemory.expires_at > sa.func.now())

    async def get_by_key(
        self, key: str, *, team_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None
    ) -> AgentSharedMemory | None:
        """The unexpired memory under `key` in exactly this scope (team, agent, or workspace)."""
        rows = await self._all(
            AgentSharedMemory.key == key, *self._scope_is(team_id, agent_id), self._live(),
            limit=1,
        )
        return rows[0] if rows else None

    async def put(
        self, key: str, value: Any, *, team_id: uuid.UUID | None = None,
        agent_id: uuid.UUID | None = None, tier: MemoryTier = MemoryTier.SHORT_TERM,
        category: MemoryCategory = MemoryCategory.CONTEXT, importance: int = 50,
        expires_at: datetime | None = None, provenance: Mapping[str, Any] | None = None,
    ) -> AgentSharedMemory:
        """Insert or replace the memory under `key` in this scope, in one statement."""
        values = {
            "memory_tier": tier, "category": category, "value": value,
            "importance": importance, "expires_at": expires_at,
            "provenance": dict(provenance or {}),
        }
        self._check_fields(values)
        insert = pg_insert(AgentSharedMemory).values(
            workspace_id=self.scope.workspace_id, team_id=team_id, agent_id=agent_id, key=key,
            **values,
        )
        upsert = insert.on_conflict_do_update(
            constraint="uq_agent_shared_memory_scope_key",
            set_={**{name: insert.excluded[name] for name in values}, "updated_at": sa.func.now()},
        ).returning(AgentSharedMemory)
        try:
            row: AgentSharedMemory | None = await self.session.scalar(
                upsert, execution_options={"populate_existing": True}
            )
        except sa_exc.DBAPIError as error:
            raise self._translate(error, {"team_id": team_id, "agent_id": agent_id}) from error
        assert row is not None
        return row

    async def forget(
        self, key: str, *, team_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None
    ) -> bool:
        """Delete the memory under `key` in this scope; False when there was none."""
        result = await self.session.execute(
            sa.delete(AgentSharedMemory).where(
                AgentSharedMemory.workspace_id == self.scope.workspace_id,
                AgentSharedMemory.key == key, *self._scope_is(team_id, agent_id),
            ).returning(AgentSharedMemory.id)
        )
        return result.first() is not None

    async def most_important(
        self, *, team_id: uuid.UUID | None = None, agent_id: uuid.UUID | None = None,
        tier: MemoryTier | None = None, limit: int = 20,
    ) -> list[AgentSharedMemory]:
        """Unexpired memories of a scope, most important (then most recently changed) first."""
        where = [*self._scope_is(team_id, agent_id), self._live()]
        if tier is not None:
            where.append(AgentSharedMemory.memory_tier == tier)
        return await self._all(
            *where, order_by=[AgentSharedMemory.importance.desc(),
                              AgentSharedMemory.updated_at.desc()], limit=limit,
        )

    async def purge_expired(self) -> int:
        result = await self.session.execute(
            sa.delete(AgentSharedMemory).where(
                AgentSharedMemory.workspace_id == self.scope.workspace_id,
                AgentSharedMemory.expires_at <= sa.func.now(),
            ).returning(AgentSharedMemory.id)
        )
        return len(result.all())


# -- approvals -----------------------------------------------------------------------------

DECISIONS = frozenset({ApprovalStatus.APPROVED, ApprovalStatus.REJECTED})
OUTCOMES = frozenset({ApprovalStatus.EXECUTED, ApprovalStatus.FAILED})


class AgentPendingActionRepository(Repository[AgentPendingAction]):
    model = AgentPendingAction
    sortable = frozenset({"created_at", "updated_at", "requested_at", "expires_at"})

    async def request(
        self, *, tool_name: str, tool_arguments: Mapping[str, Any], risk_level: RiskLevel,
        title: str, idempotency_key: str | None = None, user_id: uuid.UUID | None = None,
        conversation_id: uuid.UUID | None = None, action_type: str | None = None,
        **values: Any,
    ) -> AgentPendingAction:
        """Queue a tool call for approval. The same idempotency key returns the queued row
        instead of a second one, so a retried turn does not ask twice."""
        if idempotency_key is not None:
            existing = await self.by_idempotency_key(idempotency_key)
            if existing is not None:
                return existing
        return await self.create(
            tool_name=tool_name, tool_arguments=dict(tool_arguments), risk_level=risk_level,
            title=title, idempotency_key=idempotency_key, user_id=user_id,
            conversation_id=conversation_id, action_type=action_type or tool_name,
            **{"requested_at": utcnow(), **values},
        )

    async def by_idempotency_key(self, key: str) -> AgentPendingAction | None:
        rows = await self._all(AgentPendingAction.idempotency_key == key, limit=1)
        return rows[0] if rows else None

    async def list_pending(
        self, user_id: uuid.UUID | None = None, *, conversation_id: uuid.UUID | None = None,
    ) -> list[AgentPendingAction]:
        """Actions still awaiting a decision (not expired), oldest request first."""
        where = [AgentPendingAction.status == ApprovalStatus.PENDING,
                 AgentPendingAction.expires_at > sa.func.now()]
        if user_id is not None:
            where.append(AgentPendingAction.user_id == user_id)
        if conversation_id is not None:
            where.append(AgentPendingAction.conversation_id == conversation_id)
        return await self._all(
            *where, order_by=[AgentPendingAction.requested_at, AgentPendingAction.id]
        )

    async def decide(
        self, action_id: uuid.UUID, status: ApprovalStatus, reviewer: uuid.UUID | None, *,
        notes: str | None = None, channel: str | None = None,
    ) -> AgentPendingAction:
        """Approve or reject a pending, unexpired action. Exactly one concurrent caller wins;
        the others (and anyone deciding an expired or decided action) get `Conflict`."""
        if status not in DECISIONS:
            raise InvalidArgument(f"a decision is approved or rejected, not {status}")
        return await self._transition(
            action_id,
            (AgentPendingAction.status == ApprovalStatus.PENDING,
             AgentPendingAction.expires_at > sa.func.now()),
            status=status, reviewed_by=reviewer, reviewed_at=sa.func.now(),
            review_notes=notes, review_channel=channel,
        )

    async def complete(
        self, action_id: uuid.UUID, status: ApprovalStatus, result: Mapping[str, Any]
    ) -> AgentPendingAction:
        """Record the outcome of executing an approved action (executed or failed), once."""
        if status not in OUTCOMES:
            raise InvalidArgument(f"an outcome is executed or failed, not {status}")
        return await self._transition(
            action_id, (AgentPendingAction.status == ApprovalStatus.APPROVED,),
            status=status, result=dict(result), executed_at=sa.func.now(),
        )

    async def expire_overdue(self) -> list[uuid.UUID]:
        """Mark every pending action past its deadline expired; returns their ids."""
        result = await self.session.execute(
            sa.update(AgentPendingAction)
            .where(AgentPendingAction.workspace_id == self.scope.workspace_id,
                   AgentPendingAction.status == ApprovalStatus.PENDING,
                   AgentPendingAction.expires_at <= sa.func.now())
            .values(status=ApprovalStatus.EXPIRED, updated_at=sa.func.now())
            .returning(AgentPendingAction.id)
            .execution_options(synchronize_session=False)
        )
        return [row[0] for row in result.all()]

    async def _transition(
        self, action_id: uuid.UUID, expected: tuple[sa.ColumnElement[bool], ...], **values: Any
    ) -> AgentPendingAction:
        row: AgentPendingAction | None = await self.session.scalar(
            sa.update(AgentPendingAction)
            .where(AgentPendingAction.workspace_id == self.scope.workspace_id,
                   AgentPendingAction.id == action_id, *expected)
            .values(**values, updated_at=sa.func.now())
            .returning(AgentPendingAction),
            execution_options={"populate_existing": True, "synchronize_session": False},
        )
        if row is None:
            await self._refuse(action_id)
        return row

    async def _refuse(self, action_id: uuid.UUID) -> NoReturn:
        current = await self.get(action_id)  # NotFound when it is not this workspace's
        await self.session.refresh(current)
        if current.status == ApprovalStatus.PENDING:
            raise Conflict(f"pending action {action_id} expired at {current.expires_at}")
        raise Conflict(f"pending action {action_id} is already {current.status}")


# -- audit log -----------------------------------------------------------------------------


class AgentActionAuditLogRepository(Repository[AgentActionAuditLog]):
    """Append-only: rows are written once and never changed or removed here."""

    model = AgentActionAuditLog
    sortable = frozenset({"created_at", "executed_at"})

    async def append(
        self, action_type: str, *, success: bool, triggered_by: ActionTrigger,
        action_details: Mapping[str, Any] | None = None, **values: Any,
    ) -> AgentActionAuditLog:
        return await self.create(
            action_type=action_type, success=success, triggered_by=triggered_by,
            action_details=dict(action_details or {}), **values,
        )

    async def recent(
        self, *, agent_id: uuid.UUID | None = None, team_id: uuid.UUID | None = None,
        success: bool | None = None, limit: int = 50, cursor: str | None = None,
    ) -> Page[AgentActionAuditLog]:
        where: list[sa.ColumnElement[bool]] = []
        if agent_id is not None:
            where.append(AgentActionAuditLog.agent_id == agent_id)
        if team_id is not None:
            where.append(AgentActionAuditLog.team_id == team_id)
        if success is not None:
            where.append(AgentActionAuditLog.success.is_(success))
        return await self._page(*where, limit=limit, cursor=cursor, sort="executed_at")

    async def update(self, row_id: uuid.UUID, **values: Any) -> NoReturn:
        await self._refuse_change(row_id)

    async def delete(self, row_id: uuid.UUID) -> NoReturn:
        await self._refuse_change(row_id)

    async def _refuse_change(self, row_id: uuid.UUID) -> NoReturn:
        await self.get(row_id)  # a missing (or another workspace's) entry is NotFound first
        raise InvalidArgument("the action audit log is append-only")
