"""Insight tools: list what the detectors noticed, dismiss an insight, act on one.

An insight is visible to the member it names and, when it names nobody, to the whole workspace;
anyone else's insight behaves like one that does not exist. Acting runs the insight's suggested
tool call under the same rules as a call the model makes itself: the caller must be allowed to
use that tool, and its risk (with the workspace's overrides and the user's auto-run choices)
decides whether it runs now or waits in the approval queue. The inner call has its own
idempotency key (`<this call's key>:insight`) and action-history row, so a retried act_on_insight
finds its first effect instead of acting twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field

from store.errors import NotFound
from store.models.ai import ActionStatus, InsightStatus, NeptuneActionHistory, ProactiveInsight
from store.models.core import MemberRole, Workspace
from store.models.orchestration import RiskLevel
from store.repositories.ai import ActionHistoryRepository, InsightRepository
from store.repositories.base import utcnow
from store.repositories.neptune import AutonomyRepository
from store.repositories.orchestration import AgentPendingActionRepository
from tools.context import ToolContext
from tools.errors import RetryableToolError, ToolError, ToolFailed
from tools.invoke import check_allowed, invoke, parse_arguments
from tools.policy import ToolOverride, Verdict, decide, overrides_from_settings
from tools.registry import A, R, Risk, Tool, ToolFunction, registry, tool

APPROVAL_TTL = timedelta(hours=24)
StatusFilter = Literal["open", "pending", "seen", "acted", "dismissed", "expired", "all"]
OPEN = (InsightStatus.PENDING, InsightStatus.SEEN)


def workspace_tool(
    **options: Any,
) -> Callable[[ToolFunction[A, R]], ToolFunction[A, R]]:
    """`tool(...)`, registering in the `workspace` domain. A tool's domain is its module's
    name, and the catalogue's domains are the modules it imports; these assistant-level tools
    (insights, memory, preferences) load with `tools.workspace` and are listed under it."""
    def decorate(fn: ToolFunction[A, R]) -> ToolFunction[A, R]:
        fn.__module__ = "tools.workspace"
        return tool(**options)(fn)
    return decorate


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ActionOut(BaseModel):
    index: int = Field(description="What act_on_insight's `action` takes.")
    tool: str
    label: str
    arguments: dict[str, Any]


class InsightOut(BaseModel):
    id: uuid.UUID
    type: str
    title: str
    description: str | None
    priority: int = Field(description="0-100, higher first.")
    status: str
    record_type: str | None
    record_id: uuid.UUID | None
    data: dict[str, Any]
    actions: list[ActionOut]
    expires_at: datetime | None

    @classmethod
    def of(cls, row: ProactiveInsight) -> InsightOut:
        return cls(id=row.id, type=str(row.type), title=row.title, description=row.description,
                   priority=row.priority, status=str(row.status), record_type=row.record_type,
                   record_id=row.record_id, data=row.data, actions=action_list(row),
                   expires_at=row.expires_at)


def action_list(row: ProactiveInsight) -> list[ActionOut]:
    return [ActionOut(index=i, tool=str(a.get("tool")), label=str(a.get("label") or ""),
                      arguments=dict(a.get("arguments") or {}))
            for i, a in enumerate(row.actions) if isinstance(a, dict)]


def visible_to(ctx: ToolContext) -> sa.ColumnElement[bool]:
    return sa.or_(ProactiveInsight.user_id.is_(None),
                  ProactiveInsight.user_id == ctx.caller.user_id)


async def visible_insight(ctx: ToolContext, insight_id: uuid.UUID) -> ProactiveInsight:
    """The insight, if the caller may see it; anyone else's is not found."""
    repo = InsightRepository(ctx.session, ctx.scope)
    row = await repo.find(insight_id)
    if row is None or row.user_id not in (None, ctx.caller.user_id):
        raise NotFound("insight", insight_id)
    return row


# -- list_insights ----------------------------------------------------------------------------
class ListInsightsArgs(Frozen):
    status: StatusFilter = Field(
        default="open", description="open: pending or seen and not expired; or one status; all.")
    record_type: str | None = Field(
        default=None, max_length=64, description="Only insights about this kind of record, "
        "e.g. 'deal', 'invoice', 'campaign', 'contact'.")
    record_id: uuid.UUID | None = Field(default=None, description="Only about this record.")
    limit: int = Field(default=10, ge=1, le=50, description="Most insights to return (1-50).")


class InsightsResult(BaseModel):
    insights: list[InsightOut] = Field(description="Most important first.")


def _status_where(status: StatusFilter) -> list[sa.ColumnElement[bool]]:
    if status == "all":
        return []
    if status != "open":
        return [ProactiveInsight.status == InsightStatus(status)]
    return [ProactiveInsight.status.in_(OPEN),
            sa.or_(ProactiveInsight.expires_at.is_(None), ProactiveInsight.expires_at > utcnow())]


@workspace_tool(risk=Risk.LOW, examples=(
    "what should I pay attention to?", "any insights for me?", "anything wrong with this deal?",
    "show me the warnings about our invoices",
))
async def list_insights(ctx: ToolContext, args: ListInsightsArgs) -> InsightsResult:
    """List what Neptune noticed in the workspace (stalled deals, overdue invoices, unanswered
    customers, failing agents, ...), most important first, each with suggested actions you can
    run with act_on_insight. Filter by status or by the record they concern. Listing marks
    pending insights as seen."""
    where = [visible_to(ctx), *_status_where(args.status)]
    if args.record_type is not None:
        where.append(ProactiveInsight.record_type == args.record_type)
    if args.record_id is not None:
        where.append(ProactiveInsight.record_id == args.record_id)
    repo = InsightRepository(ctx.session, ctx.scope)
    rows = await repo._all(*where, order_by=repo._by_priority(), limit=args.limit)
    await repo.mark_seen(r.id for r in rows if r.status == InsightStatus.PENDING)
    return InsightsResult(insights=[InsightOut.of(r) for r in rows])


# -- dismiss_insight --------------------------------------------------------------------------
class InsightArgs(Frozen):
    insight_id: uuid.UUID = Field(description="The insight's id, as list_insights returns it.")


class InsightResult(BaseModel):
    insight: InsightOut


@workspace_tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Dismiss insight", examples=(
    "dismiss that insight", "I know about this one, hide it", "stop warning me about this deal",
))
async def dismiss_insight(ctx: ToolContext, args: InsightArgs) -> InsightResult:
    """Dismiss an insight: it stops being shown, and comes back only if its facts change
    materially (e.g. the deal moves stage or its amount changes a lot)."""
    row = await visible_insight(ctx, args.insight_id)
    if row.status != InsightStatus.DISMISSED:
        row = await InsightRepository(ctx.session, ctx.scope).dismiss(row.id)
    return InsightResult(insight=InsightOut.of(row))


# -- act_on_insight ---------------------------------------------------------------------------
class ActArgs(Frozen):
    insight_id: uuid.UUID = Field(description="The insight's id, as list_insights returns it.")
    action: int = Field(default=0, ge=0, le=9,
                        description="Which suggested action to run (its index; 0 = the first).")


class ActResult(BaseModel):
    insight_id: uuid.UUID
    tool: str = Field(description="The tool that was run or queued.")
    status: Literal["success", "awaiting_approval"]
    result: Any = Field(default=None, description="The tool's result when it ran.")
    pending_action_id: uuid.UUID | None = Field(
        default=None, description="When it awaits approval: not done yet; tell the user.")


def _chosen(row: ProactiveInsight, index: int) -> tuple[Tool, dict[str, Any]]:
    actions = action_list(row)
    if index >= len(actions):
        raise RetryableToolError(f"this insight has {len(actions)} suggested action(s); "
                                 f"action must be below {len(actions)}")
    found = registry.get(actions[index].tool)
    if found is None or found.name in ("act_on_insight", "dismiss_insight"):
        raise ToolFailed(f"the suggested tool {actions[index].tool} is not available")
    return found, actions[index].arguments


async def _override(ctx: ToolContext, name: str) -> ToolOverride | None:
    settings = await ctx.session.scalar(
        sa.select(Workspace.settings).where(Workspace.id == ctx.scope.workspace_id))
    return overrides_from_settings(settings).get(name)


@workspace_tool(risk=Risk.LOW, role=MemberRole.MEMBER, title="Act on insight", examples=(
    "do the first suggested action", "go ahead and send the reminder it suggests",
    "act on that insight",
))
async def act_on_insight(ctx: ToolContext, args: ActArgs) -> ActResult:
    """Run one of an insight's suggested actions (a tool call it carries, e.g. send an invoice
    reminder or create a follow-up task). It follows the usual approval rules: a risky action
    waits for the user's approval and is NOT done until approved. Marks the insight acted."""
    row = await visible_insight(ctx, args.insight_id)
    if row.status == InsightStatus.EXPIRED:
        raise ToolFailed("this insight has expired; list_insights shows the current ones")
    target, arguments = _chosen(row, args.action)
    override = await _override(ctx, target.name)
    check_allowed(target, ctx, override)
    parsed = parse_arguments(target, arguments)
    outcome = await _run_or_queue(ctx, row, target, parsed.model_dump(mode="json"), override)
    await InsightRepository(ctx.session, ctx.scope).mark_acted(row.id)
    return outcome


async def _run_or_queue(
    ctx: ToolContext, row: ProactiveInsight, target: Tool, arguments: dict[str, Any],
    override: ToolOverride | None,
) -> ActResult:
    key = f"{ctx.idempotency_key}:insight"
    history = ActionHistoryRepository(ctx.session, ctx.scope)
    earlier = await history.by_idempotency_key(key)
    if earlier is not None:
        return await _replayed(ctx, row, earlier, key)
    auto = target.risk == RiskLevel.MEDIUM and await AutonomyRepository(
        ctx.session, ctx.scope).may_auto_execute(ctx.caller.user_id, target.name)
    decision = decide(target, override=override, auto_enabled=auto)
    entry = await history.create(
        user_id=ctx.caller.user_id, conversation_id=ctx.conversation_id, action_type=target.name,
        target=f"insight:{row.id}", input=arguments, idempotency_key=key,
        automatic=decision.verdict == Verdict.RUN,
        status=ActionStatus.RUNNING if decision.verdict == Verdict.RUN
        else ActionStatus.PENDING_APPROVAL,
    )
    if decision.verdict == Verdict.ASK:
        return await _queue(ctx, row, target, arguments, key, entry, list(decision.reasons))
    return await _run(ctx, row, target, arguments, key, entry)


async def _queue(
    ctx: ToolContext, row: ProactiveInsight, target: Tool, arguments: dict[str, Any], key: str,
    entry: NeptuneActionHistory, reasons: list[str],
) -> ActResult:
    pending = await AgentPendingActionRepository(ctx.session, ctx.scope).request(
        tool_name=target.name, tool_arguments=arguments, risk_level=target.risk,
        title=target.describe_call(arguments), idempotency_key=key,
        user_id=ctx.caller.user_id, conversation_id=ctx.conversation_id, reasons=reasons,
        expires_at=utcnow() + APPROVAL_TTL,
        details={"insight_id": str(row.id), "action_history_id": str(entry.id)},
    )
    return ActResult(insight_id=row.id, tool=target.name, status="awaiting_approval",
                     pending_action_id=pending.id)


async def _run(
    ctx: ToolContext, row: ProactiveInsight, target: Tool, arguments: dict[str, Any], key: str,
    entry: NeptuneActionHistory,
) -> ActResult:
    inner = ToolContext(ctx.caller, ctx.session, key, ctx.conversation_id, ctx.services)
    history = ActionHistoryRepository(ctx.session, ctx.scope)
    try:
        async with ctx.session.begin_nested():
            result = (await invoke(target, inner, arguments)).model_dump(mode="json")
    except ToolError as error:
        await history.finish(entry.id, ActionStatus.ERROR, error=str(error))
        raise
    await history.finish(entry.id, ActionStatus.SUCCESS, output=result)
    return ActResult(insight_id=row.id, tool=target.name, status="success", result=result)


async def _replayed(
    ctx: ToolContext, row: ProactiveInsight, earlier: NeptuneActionHistory, key: str
) -> ActResult:
    """This very call already ran or queued the action: report that, never act twice."""
    if earlier.status == ActionStatus.SUCCESS:
        return ActResult(insight_id=row.id, tool=earlier.action_type, status="success",
                         result=earlier.output)
    pending = await AgentPendingActionRepository(ctx.session, ctx.scope).by_idempotency_key(key)
    if earlier.status == ActionStatus.PENDING_APPROVAL and pending is not None:
        return ActResult(insight_id=row.id, tool=earlier.action_type,
                         status="awaiting_approval", pending_action_id=pending.id)
    raise ToolFailed(earlier.error or f"the action already ended: {earlier.status}")
