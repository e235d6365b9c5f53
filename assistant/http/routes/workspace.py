"""The caller's workspace as the assistant sees it: the tools they may use, insights (and acting
on one), their preferences, what Neptune remembers for them, feedback on answers, and usage
against the budget.

Everything here is the caller's own or the workspace's: an insight meant for another member, a
message in someone else's conversation, another workspace's anything, are 404 exactly like an
id that does not exist. Members see their own usage; admins may ask for the workspace's.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Header, Query
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.deps import RuntimeDeps
from assistant.http.dependencies import Admin, Chatter, Reader, ServicesDep, Writer
from assistant.http.problems import Problem, forbidden, not_found, problem_responses
from assistant.http.workspace_schemas import (
    BudgetOut,
    DayUsage,
    FactOut,
    FeedbackIn,
    FeedbackOut,
    InsightActIn,
    InsightActOut,
    InsightOut,
    ModelUsage,
    PreferencesIn,
    PreferencesOut,
    ProfileIn,
    ProfileOut,
    ShortcutOut,
    ToolOut,
    UsageOut,
    UsageTotals,
)
from store.models.ai import (
    AiUserPreferences,
    AssistantPreferences,
    InsightStatus,
    MessageRole,
    ProactiveInsight,
    Rating,
    Shortcut,
    WorkspaceIntelligence,
)
from store.models.core import MemberRole, Workspace
from store.models.neptune import MemoryFact
from store.repositories.ai import (
    ConversationRepository,
    FeedbackRepository,
    InsightRepository,
    MessageRepository,
    PreferencesRepository,
    WorkspaceIntelligenceRepository,
)
from store.repositories.base import utcnow
from store.repositories.neptune import (
    AutonomyRepository,
    MemoryFactRepository,
    UsageLedgerRepository,
    is_consistent,
    start_of_day,
)
from store.tenancy import scoped_session
from tools.context import Caller, ToolContext
from tools.insights import ActArgs, ActResult, act_on_insight
from tools.invoke import invoke
from tools.policy import ToolOverride, Verdict, available, decide, overrides_from_settings
from tools.registry import Tool

router = APIRouter(tags=["workspace"], responses=problem_responses(401, 403, 422, 429))
ActKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="Send the same key to retry safely: the action runs at most once.")]
InsightFilter = Literal["open", "pending", "seen", "acted", "dismissed", "expired", "all"]


# -- tools ------------------------------------------------------------------------------------
@router.get("/v1/tools", summary="The tools the caller may use, and which of them ask first")
async def list_tools(
    principal: Reader, svc: ServicesDep,
    domain: Annotated[str | None, Query(max_length=40, description="Only this area")] = None,
) -> list[ToolOut]:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        workspace = await _workspace(session, caller)
        overrides = overrides_from_settings(workspace.settings)
        tools = available(svc.deps.registry, caller, overrides)
        automatic = await _auto_enabled(session, caller)
    return [_tool_out(t, overrides.get(t.name), t.name in automatic)
            for t in tools if domain is None or t.domain == domain]


async def _auto_enabled(session: AsyncSession, caller: Caller) -> set[str]:
    """Tools this user switched to run unasked, whose record still supports it."""
    rows = await AutonomyRepository(session, caller.scope).for_user(caller.user_id)
    return {r.tool_name for r in rows if r.auto_execute_enabled and is_consistent(r)}


def _tool_out(tool: Tool, override: ToolOverride | None, auto: bool) -> ToolOut:
    decision = decide(tool, override=override, auto_enabled=auto)
    asks = decision.verdict == Verdict.ASK
    return ToolOut(
        name=tool.name, title=tool.name.replace("_", " ").capitalize(),
        description=tool.description, domain=tool.domain, risk=tool.risk, needs_approval=asks,
        approval_reasons=list(decision.reasons) if asks else [],
        parameters=tool.parameters, schema_hash=tool.schema_hash, examples=list(tool.examples))


async def _workspace(session: AsyncSession, caller: Caller) -> Workspace:
    row = await session.get(Workspace, caller.workspace_id)
    if row is None:  # pragma: no cover - the caller was just authenticated in it
        raise not_found("workspace")
    return row


# -- insights ---------------------------------------------------------------------------------
@router.get("/v1/insights", summary="Insights for the caller: their own and workspace-wide ones")
async def list_insights(
    principal: Reader, svc: ServicesDep,
    status: Annotated[InsightFilter, Query(
        description="open: pending or seen and not expired")] = "open",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    record_type: Annotated[str | None, Query(max_length=64, description=(
        "Only insights about this kind of record, e.g. deal"))] = None,
    record_id: Annotated[uuid.UUID | None, Query(description="Only about this record")] = None,
) -> list[InsightOut]:
    caller = principal.caller
    where = [_visible_to(caller), *_status_filter(status)]
    if record_type is not None:
        where.append(ProactiveInsight.record_type == record_type)
    if record_id is not None:
        where.append(ProactiveInsight.record_id == record_id)
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        rows = await InsightRepository(session, caller.scope)._all(
            *where, order_by=[ProactiveInsight.priority.desc(), ProactiveInsight.created_at.desc(),
                              ProactiveInsight.id], limit=limit)
    return [_insight_out(r) for r in rows]


def _visible_to(caller: Caller) -> sa.ColumnElement[bool]:
    return sa.or_(ProactiveInsight.user_id.is_(None), ProactiveInsight.user_id == caller.user_id)


def _status_filter(status: InsightFilter) -> list[sa.ColumnElement[bool]]:
    if status == "all":
        return []
    if status != "open":
        return [ProactiveInsight.status == InsightStatus(status)]
    return [ProactiveInsight.status.in_([InsightStatus.PENDING, InsightStatus.SEEN]),
            sa.or_(ProactiveInsight.expires_at.is_(None), ProactiveInsight.expires_at > utcnow())]


@router.post("/v1/insights/{insight_id}/dismiss", summary="Dismiss an insight",
             responses=problem_responses(404))
async def dismiss_insight(insight_id: uuid.UUID, principal: Writer,
                          svc: ServicesDep) -> InsightOut:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        insights = InsightRepository(session, caller.scope)
        row = await insights.find(insight_id)
        if row is None or row.user_id not in (None, caller.user_id):
            raise not_found("insight")
        if row.status != InsightStatus.DISMISSED:
            row = await insights.dismiss(insight_id)
    return _insight_out(row)


@router.post("/v1/insights/{insight_id}/act",
             summary="Run one of an insight's suggested actions (risky ones wait for approval)",
             responses=problem_responses(404, 409))
async def act_on(insight_id: uuid.UUID, body: InsightActIn, principal: Writer,
                 svc: ServicesDep, retry_key: ActKey = None) -> InsightActOut:
    """With an `Idempotency-Key`, a retried request reports the first one's outcome and never
    runs the action twice."""
    caller = principal.caller
    tool = svc.deps.registry.get(act_on_insight.__name__)
    if tool is None:  # pragma: no cover - the catalogue always has it
        raise Problem(503, "Unavailable", "acting on insights is not installed")
    key = f"http:insight:{insight_id}:{caller.user_id}:{retry_key or uuid.uuid4()}"
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        await _visible_insight(session, caller, insight_id)
        ctx = ToolContext(caller, session, key, services=svc.deps.tool_services)
        done = await invoke(tool, ctx, ActArgs(insight_id=insight_id, action=body.action))
        assert isinstance(done, ActResult)
        row = await _visible_insight(session, caller, insight_id)
    return InsightActOut(insight=_insight_out(row), tool=done.tool, status=done.status,
                         result=done.result, pending_action_id=done.pending_action_id)


async def _visible_insight(session: AsyncSession, caller: Caller,
                           insight_id: uuid.UUID) -> ProactiveInsight:
    row = await InsightRepository(session, caller.scope).find(insight_id)
    if row is None or row.user_id not in (None, caller.user_id):
        raise not_found("insight")
    return row


def _insight_out(row: ProactiveInsight) -> InsightOut:
    return InsightOut(
        id=row.id, type=str(row.type), title=row.title, description=row.description,
        priority=row.priority, status=str(row.status), workspace_wide=row.user_id is None,
        data=row.data, actions=row.actions, record_type=row.record_type,
        record_id=row.record_id, expires_at=row.expires_at, seen_at=row.seen_at,
        dismissed_at=row.dismissed_at, created_at=row.created_at)


# -- preferences ------------------------------------------------------------------------------
@router.get("/v1/preferences", summary="The caller's assistant preferences (defaults if unset)")
async def get_preferences(principal: Reader, svc: ServicesDep) -> PreferencesOut:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        page = await PreferencesRepository(session, caller.scope).list(
            user_id=caller.user_id, limit=1)
    return _preferences_out(page.items[0]) if page.items else _defaults()


@router.put("/v1/preferences", summary="Replace the caller's preferences (omitted: defaults)")
async def put_preferences(body: PreferencesIn, principal: Chatter,
                          svc: ServicesDep) -> PreferencesOut:
    caller = principal.caller
    shortcuts = [Shortcut(command=s.name, expansion=s.expands_to).model_dump()
                 for s in body.shortcuts]
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = PreferencesRepository(session, caller.scope)
        row = await repo.for_user(caller.user_id)
        row = await repo.update(
            row.id, preferences=body.assistant().model_dump(), shortcuts=shortcuts,
            favorite_agents=list(body.favorite_agents),
            recent_searches=list(body.recent_searches))
    return _preferences_out(row)


def _defaults() -> PreferencesOut:
    prefs = AssistantPreferences()
    return PreferencesOut(**prefs.model_dump(), shortcuts=[], favorite_agents=[],
                          recent_searches=[], updated_at=None)


def _preferences_out(row: AiUserPreferences) -> PreferencesOut:
    """The stored row as the API shows it; the runtime reads `preferences` the same way."""
    prefs = AssistantPreferences.model_validate(row.preferences or {})
    shortcuts = [ShortcutOut(name=_slashed(str(s.get("command", ""))),
                             expands_to=str(s.get("expansion", "")))
                 for s in row.shortcuts if isinstance(s, dict)]
    return PreferencesOut(**prefs.model_dump(), shortcuts=shortcuts,
                          favorite_agents=list(row.favorite_agents),
                          recent_searches=list(row.recent_searches), updated_at=row.updated_at)


def _slashed(command: str) -> str:
    return command if command.startswith("/") else f"/{command}"


# -- memory -----------------------------------------------------------------------------------
@router.get("/v1/memory", summary="The facts Neptune remembers for the caller (theirs and the "
            "workspace's), newest first")
async def list_memory(
    principal: Reader, svc: ServicesDep,
    scope: Annotated[Literal["all", "me", "workspace"], Query(
        description="me: only the caller's own; workspace: only the shared ones")] = "all",
    limit: Annotated[int, Query(ge=1, le=200)] = 100,
) -> list[FactOut]:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = MemoryFactRepository(session, caller.scope)
        if scope == "workspace":
            rows = await repo.for_user(None, limit=limit)
        else:
            rows = await repo.for_user(caller.user_id, include_workspace=scope == "all",
                                       limit=limit)
    return [_fact_out(r) for r in rows]


@router.delete("/v1/memory/{fact_id}", status_code=204, response_model=None,
               summary="Forget a fact (the caller's own, or a workspace fact)",
               responses=problem_responses(404))
async def forget_memory(fact_id: uuid.UUID, principal: Writer, svc: ServicesDep) -> None:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = MemoryFactRepository(session, caller.scope)
        row = await repo.find(fact_id)
        if row is None or row.user_id not in (None, caller.user_id):
            raise not_found("fact")
        await repo.delete(fact_id)


def _fact_out(row: MemoryFact) -> FactOut:
    return FactOut(id=row.id, fact=row.content, created_at=row.created_at,
                   scope="workspace" if row.user_id is None else "me")


# -- workspace profile ------------------------------------------------------------------------
@router.get("/v1/workspace/profile",
            summary="What Neptune knows about the company: it feeds every system prompt")
async def get_profile(principal: Reader, svc: ServicesDep) -> ProfileOut:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        row = await WorkspaceIntelligenceRepository(session, caller.scope).current()
    return _profile_out(row)


@router.put("/v1/workspace/profile", summary="Replace the company profile (admins)",
            responses=problem_responses(403))
async def put_profile(body: ProfileIn, principal: Admin, svc: ServicesDep) -> ProfileOut:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        row = await WorkspaceIntelligenceRepository(session, caller.scope).put(
            updated_by=caller.user_id, company_profile=dict(body.company_profile),
            products=[p.model_dump(exclude_none=True) for p in body.products],
            brand_voice=body.brand_voice)
    return _profile_out(row)


def _profile_out(row: WorkspaceIntelligence | None) -> ProfileOut:
    if row is None:
        return ProfileOut(company_profile={}, products=[], brand_voice="", updated_at=None)
    return ProfileOut(company_profile=row.company_profile or {}, products=list(row.products),
                      brand_voice=row.brand_voice or "", updated_at=row.updated_at)


# -- feedback ---------------------------------------------------------------------------------
@router.post("/v1/messages/{message_id}/feedback", tags=["conversations"],
             summary="Rate an answer (thumbs up or down); rating again replaces it",
             responses=problem_responses(404))
async def rate_message(message_id: uuid.UUID, body: FeedbackIn, principal: Chatter,
                       svc: ServicesDep) -> FeedbackOut:
    caller = principal.caller
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        await _own_answer(session, caller, message_id)
        row = await FeedbackRepository(session, caller.scope).rate(
            message_id, Rating(body.rating), user_id=caller.user_id, comment=body.comment)
    return FeedbackOut(message_id=row.message_id, rating=body.rating, comment=row.comment,
                       updated_at=row.updated_at)


async def _own_answer(session: AsyncSession, caller: Caller, message_id: uuid.UUID) -> None:
    """404 unless the message is in one of the caller's conversations; 422 unless it is an
    assistant answer."""
    message = await MessageRepository(session, caller.scope).find(message_id)
    conversation = (await ConversationRepository(session, caller.scope).find(
        message.conversation_id) if message is not None else None)
    if message is None or conversation is None or conversation.user_id != caller.user_id:
        raise not_found("message")
    if message.role != MessageRole.ASSISTANT:
        raise Problem(422, "Invalid request", "only Neptune's answers (assistant messages) "
                      "can be rated", kind="invalid")


# -- usage ------------------------------------------------------------------------------------
@router.get("/v1/usage", summary="Model usage (tokens, cost, calls) and the token budget")
async def usage(
    principal: Reader, svc: ServicesDep,
    days: Annotated[int, Query(ge=1, le=366, description="UTC days, today included")] = 30,
    scope: Annotated[Literal["me", "workspace"], Query(
        description="workspace: every member's usage (admins only)")] = "me",
) -> UsageOut:
    caller = principal.caller
    if scope == "workspace" and not caller.at_least(MemberRole.ADMIN):
        raise forbidden("only admins may see the whole workspace's usage")
    now = utcnow()
    since = start_of_day(now) - timedelta(days=days - 1)
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        ledger = UsageLedgerRepository(session, caller.scope)
        rows = await _usage_rows(ledger, since, caller.user_id if scope == "me" else None)
        budget = await _budget(session, ledger, svc.deps, caller, now)
    return UsageOut(scope=scope, since=since, totals=_totals(rows), by_model=_by_model(rows),
                    by_day=_by_day(rows), budget=budget)


_COUNTS = ("calls", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd_micros")


async def _usage_rows(ledger: UsageLedgerRepository, since: datetime,
                      user_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """Calls, tokens and cost per UTC day and model (one user's when `user_id` is given)."""
    return [{"day": r.day, "model": r.model, "calls": r.calls,
             **{name: getattr(r, name) for name in _COUNTS[1:]}}
            for r in await ledger.summary(since, user_id=user_id)]


def _sum(rows: list[dict[str, Any]]) -> dict[str, int]:
    sums = {name: sum(r[name] for r in rows) for name in _COUNTS}
    return {**sums, "total_tokens": sums["prompt_tokens"] + sums["completion_tokens"]}


def _totals(rows: list[dict[str, Any]]) -> UsageTotals:
    return UsageTotals(**_sum(rows))


def _by_model(rows: list[dict[str, Any]]) -> list[ModelUsage]:
    models = sorted({r["model"] for r in rows})
    return [ModelUsage(model=m, **_sum([r for r in rows if r["model"] == m])) for m in models]


def _by_day(rows: list[dict[str, Any]]) -> list[DayUsage]:
    days = sorted({r["day"] for r in rows})
    return [DayUsage(day=d, **_sum([r for r in rows if r["day"] == d])) for d in days]


async def _budget(session: AsyncSession, ledger: UsageLedgerRepository, deps: RuntimeDeps,
                  caller: Caller, now: datetime) -> BudgetOut:
    """The workspace's daily budget as a turn computes it (its settings, else its tier's)."""
    workspace = await _workspace(session, caller)
    daily = deps.settings.daily_budget(workspace.subscription_tier, workspace.settings or {})
    today = await ledger.tokens_today(now=now)
    month = datetime(now.year, now.month, 1, tzinfo=UTC)
    return BudgetOut(daily_tokens=daily, spent_today=today,
                     remaining_today=max(0, daily - today),
                     spent_this_month=await ledger.tokens_since(month))
