"""Operations detectors: inbound conversations nobody answered, overdue tasks, agents and grids
failing repeatedly, knowledge gaps (searches that found nothing) and the day's token budget."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from assistant.insights.model import DetectorContext, Finding, Suggested, clamp_priority
from assistant.insights.registry import detector
from store.models.admin import TaskStatus, TodoHqTask
from store.models.agents import AgentExecution, ExecutionStatus
from store.models.ai import ActionStatus, InsightType, NeptuneActionHistory
from store.models.communications import Conversation, ConversationStatus
from store.models.core import Workspace
from store.models.grids import GalaxyGrid, GridExecution, GridRunStatus
from store.repositories.admin import TaskRepository
from store.repositories.agents import AgentExecutionRepository, AgentRepository
from store.repositories.ai import ActionHistoryRepository, content_hash
from store.repositories.communications import ConversationRepository
from store.repositories.grids import GridExecutionRepository, GridRepository
from store.repositories.neptune import UsageLedgerRepository

UNANSWERED_HOURS = 4
FAILURE_WINDOW_DAYS = 7
FAILURES_TO_FLAG = 3
GAP_WINDOW_DAYS = 14
GAP_SEARCHES = 2
BUDGET_WARNING = 0.8
MAX_FINDINGS = 50
OPEN_TASKS = [s for s in TaskStatus if s.is_open]


@detector("inbound_unanswered")
async def inbound_unanswered(ctx: DetectorContext) -> list[Finding]:
    """Active inbox conversations whose last inbound message has had no reply for hours."""
    stmt = ConversationRepository(ctx.session, ctx.scope).select().where(
        Conversation.status == ConversationStatus.ACTIVE,
        Conversation.last_inbound_at < ctx.ago(hours=UNANSWERED_HOURS),
        sa.or_(Conversation.last_outbound_at.is_(None),
               Conversation.last_outbound_at < Conversation.last_inbound_at),
    ).order_by(Conversation.last_inbound_at).limit(MAX_FINDINGS)
    return [_unanswered(ctx, c) for c in await ctx.session.scalars(stmt)]


def _unanswered(ctx: DetectorContext, conversation: Conversation) -> Finding:
    assert conversation.last_inbound_at is not None
    hours = int((ctx.now - conversation.last_inbound_at).total_seconds() // 3600)
    subject = conversation.subject or f"a {conversation.channel} conversation"
    return Finding(
        key=str(conversation.id), type=InsightType.WARNING,
        priority=clamp_priority(55 + hours / 2),
        title=f"No reply for {hours} hours: {subject}"[:200],
        description=f"A customer wrote {hours} hours ago ({conversation.channel}) and nobody "
                    "has answered yet.",
        state={"last_inbound": conversation.last_inbound_at.isoformat()},
        data={"subject": subject, "channel": str(conversation.channel), "hours": hours,
              "assigned_to": str(conversation.assigned_to) if conversation.assigned_to
              else None},
        record_type="inbox_conversation", record_id=conversation.id,
        user_id=conversation.assigned_to, lifetime=timedelta(days=1),
        actions=(Suggested("get_inbox_conversation", {"conversation_id": str(conversation.id)},
                           "Read the conversation"),),
    )


@detector("overdue_tasks")
async def overdue_tasks(ctx: DetectorContext) -> list[Finding]:
    """Open tasks past their due date, one insight per assignee (unassigned ones together)."""
    stmt = TaskRepository(ctx.session, ctx.scope).select().where(
        TodoHqTask.status.in_(OPEN_TASKS), TodoHqTask.due_date < ctx.today,
    ).order_by(TodoHqTask.due_date, TodoHqTask.id)
    by_assignee: dict[uuid.UUID | None, list[TodoHqTask]] = defaultdict(list)
    for task in await ctx.session.scalars(stmt):
        by_assignee[task.assignee_id].append(task)
    return [_overdue_for(ctx, who, tasks) for who, tasks in by_assignee.items()]


def _overdue_for(
    ctx: DetectorContext, assignee: uuid.UUID | None, tasks: list[TodoHqTask]
) -> Finding:
    oldest = min(t.due_date for t in tasks if t.due_date is not None)
    late = (ctx.today - oldest).days
    whose = "Unassigned tasks" if assignee is None else "Your tasks"
    single = len(tasks) == 1
    arguments: dict[str, Any] = {"overdue": True, "limit": 50}
    arguments.update({"assignee_id": str(assignee)} if assignee else {"query": ""})
    return Finding(
        key=str(assignee or "unassigned"), type=InsightType.WARNING,
        priority=clamp_priority(40 + len(tasks) * 3 + late),
        title=f"{len(tasks)} overdue task{'' if single else 's'}"
              + (f": {tasks[0].title}" if single else ""),
        description=f"{whose}: {len(tasks)} open past the due date, the oldest by {late} days.",
        state={"tasks": sorted(str(t.id) for t in tasks)},
        data={"count": len(tasks), "oldest_due": oldest.isoformat(),
              "records": [str(t.id) for t in tasks[:MAX_FINDINGS]],
              "titles": [t.title for t in tasks[:10]]},
        record_type="task" if single else None, record_id=tasks[0].id if single else None,
        user_id=assignee, lifetime=timedelta(days=1),
        actions=(Suggested("list_tasks", arguments, "List the overdue tasks"),),
    )


def repeated_failures(
    runs: Sequence[tuple[uuid.UUID, Any, datetime]], failed: set[Any]
) -> dict[uuid.UUID, int]:
    """Owners (agent or grid ids) whose latest run failed and who failed at least
    `FAILURES_TO_FLAG` times; `runs` are (owner, status, when), newest first."""
    latest: dict[uuid.UUID, Any] = {}
    failures: Counter[uuid.UUID] = Counter()
    for owner, status, _ in runs:
        latest.setdefault(owner, status)
        failures[owner] += status in failed
    return {o: n for o, n in failures.items() if n >= FAILURES_TO_FLAG and latest[o] in failed}


async def _failing_owners(ctx: DetectorContext, runs_of: Any, owner: Any, status: Any,
                          created: Any, done: tuple[Any, Any]) -> dict[uuid.UUID, int]:
    """Who (an agent or a grid) failed repeatedly this week, from their finished runs
    (`runs_of`: the runs' repository class); `done` is the (completed, failed) statuses."""
    stmt = runs_of(ctx.session, ctx.scope).select().with_only_columns(
        owner, status, created,
    ).where(
        created >= ctx.ago(days=FAILURE_WINDOW_DAYS), status.in_(done),
    ).order_by(created.desc()).limit(2000)
    runs = [tuple(r) for r in (await ctx.session.execute(stmt)).all()]
    return repeated_failures(runs, {done[1]})


@detector("failing_agents")
async def failing_agents(ctx: DetectorContext) -> list[Finding]:
    """Agents whose last run failed, after at least three failures this week."""
    flagged = await _failing_owners(
        ctx, AgentExecutionRepository, AgentExecution.agent_id, AgentExecution.status,
        AgentExecution.created_at, (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED))
    agents = await AgentRepository(ctx.session, ctx.scope).get_many(flagged)
    return [_failing("agent", a.id, a.name, flagged[a.id]) for a in agents]


@detector("failing_grids")
async def failing_grids(ctx: DetectorContext) -> list[Finding]:
    """Workflow grids whose last run failed, after at least three failures this week."""
    flagged = await _failing_owners(
        ctx, GridExecutionRepository, GridExecution.grid_id, GridExecution.status,
        GridExecution.created_at, (GridRunStatus.COMPLETED, GridRunStatus.FAILED))
    grids: list[GalaxyGrid] = await GridRepository(ctx.session, ctx.scope).get_many(flagged)
    return [_failing("grid", g.id, g.name, flagged[g.id]) for g in grids]


def _failing(kind: str, record_id: uuid.UUID, name: str, failures: int) -> Finding:
    look = ("get_agent", {"agent_id": str(record_id)}) if kind == "agent" \
        else ("get_grid", {"grid_id": str(record_id)})
    actions = [Suggested(look[0], look[1], f"Look at the {kind}")]
    if kind == "agent":
        actions.append(Suggested("update_agent", {"agent_id": str(record_id),
                                                  "status": "paused"}, "Pause the agent"))
    return Finding(
        key=str(record_id), type=InsightType.WARNING, priority=clamp_priority(50 + failures * 5),
        title=f"The {kind} {name} keeps failing ({failures} failures this week)",
        description=f"{name} failed {failures} times in the last {FAILURE_WINDOW_DAYS} days, "
                    "including its latest run.",
        state={"failing": True}, data={kind: name, "failures": failures},
        record_type=kind, record_id=record_id, lifetime=timedelta(days=3),
        actions=tuple(actions),
    )


@detector("knowledge_gaps")
async def knowledge_gaps(ctx: DetectorContext) -> list[Finding]:
    """Questions people searched the knowledge base for (twice or more) that found nothing."""
    query = sa.func.lower(sa.func.trim(NeptuneActionHistory.input["query"].astext))
    stmt = ActionHistoryRepository(ctx.session, ctx.scope).select().with_only_columns(
        query, sa.func.count(), sa.func.max(NeptuneActionHistory.created_at),
    ).where(
        NeptuneActionHistory.action_type == "search_knowledge",
        NeptuneActionHistory.status == ActionStatus.SUCCESS,
        NeptuneActionHistory.created_at >= ctx.ago(days=GAP_WINDOW_DAYS),
        sa.func.jsonb_array_length(NeptuneActionHistory.output["results"]) == 0,
    ).group_by(query).having(sa.func.count() >= GAP_SEARCHES)
    rows = (await ctx.session.execute(stmt.order_by(sa.func.count().desc()).limit(20))).all()
    return [_gap(text, int(n)) for text, n, _ in rows if text]


def _gap(text: str, searches: int) -> Finding:
    return Finding(
        key=content_hash(text)[:24], type=InsightType.RECOMMENDATION,
        priority=clamp_priority(30 + searches * 5),
        title=f"Nothing in the knowledge base answers \"{text[:80]}\"",
        description=f"People searched for \"{text}\" {searches} times in the last "
                    f"{GAP_WINDOW_DAYS} days and found nothing. A short document would help.",
        state={"query": text}, data={"query": text, "searches": searches},
        lifetime=timedelta(days=GAP_WINDOW_DAYS),
        actions=(Suggested("create_task", {
            "title": f"Write a knowledge article: {text}"[:300], "priority": "medium",
        }, "Create a task to write it"),),
    )


@detector("token_budget")
async def token_budget(ctx: DetectorContext) -> list[Finding]:
    """Today's model tokens at 80% or more of the workspace's daily budget."""
    workspace = await ctx.session.get(Workspace, ctx.scope.workspace_id)
    if workspace is None or ctx.budget_of is None:
        return []
    budget = ctx.budget_of(workspace)
    spent = await UsageLedgerRepository(ctx.session, ctx.scope).tokens_today(now=ctx.now)
    if budget <= 0 or spent < budget * BUDGET_WARNING:
        return []
    share = spent / budget
    band = 100 if share >= 1 else (90 if share >= 0.9 else 80)
    return [Finding(
        key=ctx.today.isoformat(), type=InsightType.WARNING,
        priority=clamp_priority(60 + band / 4),
        title=f"{share:.0%} of today's token budget is spent",
        description=f"The workspace used {spent:,} of its {budget:,} daily tokens. New requests "
                    "stop at the budget until midnight UTC; an admin can raise it.",
        state={"band": band}, data={"spent": spent, "budget": budget},
        expires_at=ctx.end_of_day(),
    )]
