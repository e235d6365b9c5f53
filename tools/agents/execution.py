"""The store side of agent runs: claiming a queued execution, who it acts as, recording its
outcome, and firing due schedules. The running itself is an `AgentRunner`'s (see `runner`).

Every step that must happen once is a conditional update: an execution is claimed
`pending -> running`, a schedule fires by moving `next_run_at` from the value its reader saw to
the next one, so two workers that see the same due row act once. A run acts as a member (the
one who started it, or the schedule's author, or else the agent's creator) with that member's
current role and permissions; someone who left the workspace cannot be acted for.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.agents import AgentExecution, AgentStatus, ExecutionStatus
from store.models.core import WorkspaceMember
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentRepository,
    AgentScheduleRepository,
)
from store.repositories.core import WorkspaceMemberRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.agents.common import next_run
from tools.agents.runner import AgentTask, TurnReport
from tools.context import Caller

log = logging.getLogger(__name__)
Sessions = async_sessionmaker[AsyncSession]
AGENT_CHANNEL = "agent"


@dataclass(frozen=True)
class Claimed:
    """A claimed execution: the task to run and the input it was queued with."""

    task: AgentTask
    input: Mapping[str, Any]


async def acting_caller(
    session: AsyncSession, scope: WorkspaceScope, user_id: uuid.UUID | None
) -> Caller | None:
    """The member a run acts as, with their role and permissions as they are now."""
    if user_id is None:
        return None
    repo = WorkspaceMemberRepository(session, scope)
    member: WorkspaceMember | None = await session.scalar(repo.select().where(
        WorkspaceMember.user_id == user_id, WorkspaceMember.is_active.is_(True)))
    if member is None:
        return None
    return Caller.for_member(scope.workspace_id, user_id, member.role, member.permissions,
                             channel=AGENT_CHANNEL)


def origin_of(run: AgentExecution) -> str:
    if run.schedule_id is not None:
        return "by its schedule"
    if run.input.get("team_id"):
        return "as the coordinator of its team"
    return "by a member of the workspace"


async def claim(sessions: Sessions, scope: WorkspaceScope,
                execution_id: uuid.UUID) -> Claimed | None:
    """Claim a pending execution. None when another worker has it (or it is not pending), and
    also when it cannot run (paused agent, nobody to act as): it is then recorded as failed."""
    async with scoped_session(sessions, scope) as session:
        run = await AgentExecutionRepository(session, scope).claim(execution_id)
        if run is None:
            return None
        agent = await AgentRepository(session, scope).get(run.agent_id)
        caller = await acting_caller(session, scope, run.triggered_by or agent.created_by)
    problem = None
    if agent.status != AgentStatus.ACTIVE:
        problem = f"agent {agent.name!r} is {agent.status}; activate it to run it"
    elif caller is None:
        problem = "the member who started this run is no longer in the workspace"
    if problem is not None or caller is None:
        await finish_execution(sessions, scope, run.id, TurnReport.failed(problem or ""))
        return None
    return Claimed(AgentTask(run.id, agent, caller, origin_of(run)), dict(run.input))


def task_text(input: Mapping[str, Any]) -> str:
    """The first message of a run: its task, and any other input it was given."""
    text = str(input.get("task") or input.get("objective") or "").strip()
    return text or "Do your standing task."


def _output(report: TurnReport) -> dict[str, Any]:
    return {"text": report.text,
            "conversation_id": str(report.conversation_id) if report.conversation_id else None,
            "awaiting_approval": [str(i) for i in report.awaiting]}


async def finish_execution(sessions: Sessions, scope: WorkspaceScope, execution_id: uuid.UUID,
                           report: TurnReport) -> AgentExecution:
    """Record a run's outcome. A run that waits for approval stays `running` and says what it
    waits on; otherwise it ends completed or failed, counted on its agent, and a scheduled run
    leaves its status on its schedule (`last_run_status`), whichever worker ran it."""
    async with scoped_session(sessions, scope) as session:
        repo = AgentExecutionRepository(session, scope)
        usage: dict[str, Any] = {"tokens_used": report.tokens,
                                 "cost_cents": round(report.cost_usd * 100)}
        if report.status == "waiting":
            return await repo.update(execution_id, output=_output(report), **usage)
        failed = report.status == "failed"
        run = await repo.finish(
            execution_id, ExecutionStatus.FAILED if failed else ExecutionStatus.COMPLETED,
            output=_output(report), error={"message": report.error} if failed else None,
            **usage,
        )
        if run.schedule_id is not None:
            await AgentScheduleRepository(session, scope).update(run.schedule_id,
                                                                 last_run_status=run.status)
        return run


# -- schedules ----------------------------------------------------------------------------------


async def fire_schedule(sessions: Sessions, scope: WorkspaceScope, schedule_id: uuid.UUID,
                        now: datetime) -> uuid.UUID | None:
    """If the schedule is due, claim this firing and queue its execution in one transaction;
    its id, or None when it is not due or another worker fired it. A schedule whose agent is not
    active skips the firing (recorded as cancelled) and waits for its next one."""
    async with scoped_session(sessions, scope) as session:
        schedules = AgentScheduleRepository(session, scope)
        schedule = await schedules.find(schedule_id)
        if schedule is None or not schedule.enabled or schedule.next_run_at is None \
                or schedule.next_run_at > now:
            return None
        following = next_run(schedule.cron, schedule.timezone, now) if schedule.cron else None
        if await schedules.claim_firing(schedule.id, seen_next_run_at=schedule.next_run_at,
                                        next_run_at=following, ran_at=now) is None:
            return None
        agent = await AgentRepository(session, scope).get(schedule.agent_id)
        if agent.status != AgentStatus.ACTIVE:
            await schedules.mark_ran(schedule.id, status=ExecutionStatus.CANCELLED, ran_at=now,
                                     next_run_at=following)
            return None
        author = schedule.input.get("scheduled_by")
        run = await AgentExecutionRepository(session, scope).queue(
            agent.id, input={"task": schedule.input.get("task") or ""},
            schedule_id=schedule.id,
            triggered_by=uuid.UUID(str(author)) if author else agent.created_by)
        return run.id
