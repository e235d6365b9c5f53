"""The insight, memory and preference tools called as the runtime calls them: visibility per
member and per workspace, acting exactly once, and bad input refused with nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.models.admin import TodoHqTask
from store.models.agents import Agent
from store.models.ai import InsightStatus, InsightType, NeptuneActionHistory, ProactiveInsight
from store.models.core import MemberRole
from store.models.neptune import MemoryFact
from store.models.orchestration import AgentPendingAction
from store.repositories.ai import InsightRepository
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.http.conftest import add_member
from tools.errors import RetryableToolError, ToolError, ToolFailed
from tools.knowledge.embedder import EMBEDDER_SERVICE, EmbedderUnavailable

Sessions = async_sessionmaker[AsyncSession]
CallTool = Callable[..., Any]
TASK_ACTION = {"tool": "create_task", "label": "Create a task",
               "arguments": {"title": "Chase Globex", "priority": "high"}}


async def insight(sessions: Sessions, ws: WorkspaceFixture, name: str, *,
                  user_id: uuid.UUID | None = None, actions: list[Any] | None = None,
                  record_id: uuid.UUID | None = None, priority: int = 50,
                  expires_at: datetime | None = None) -> ProactiveInsight:
    async with scoped_session(sessions, ws.scope) as session:
        return await InsightRepository(session, ws.scope).upsert(
            f"test:{name}", detector="test", type=InsightType.WARNING, title=name,
            user_id=user_id, actions=actions if actions is not None else [TASK_ACTION],
            record_type="deal" if record_id else None, record_id=record_id,
            priority=priority, expires_at=expires_at)


async def count(sessions: Sessions, ws: WorkspaceFixture, model: Any) -> int:
    async with scoped_session(sessions, ws.scope) as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


async def status_of(sessions: Sessions, ws: WorkspaceFixture, row_id: uuid.UUID) -> str:
    async with scoped_session(sessions, ws.scope) as session:
        return str(await session.scalar(
            sa.select(ProactiveInsight.status).where(ProactiveInsight.id == row_id)))


# -- list / dismiss ---------------------------------------------------------------------------
async def test_list_insights_shows_own_and_workspace_wide_and_marks_them_seen(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions, database: Any,
) -> None:
    colleague = await add_member(database, ws, MemberRole.MEMBER)
    deal = uuid.uuid4()
    shared = await insight(sessions, ws, "For everyone", priority=60, record_id=deal)
    mine = await insight(sessions, ws, "For me", user_id=ws.user_id, priority=80)
    theirs = await insight(sessions, ws, "For a colleague", user_id=colleague.user_id)
    await insight(sessions, ws, "Stale", expires_at=datetime.now().astimezone()
                  - timedelta(minutes=1))

    listed = await call_tool(ws, "list_insights", {})
    assert [i.title for i in listed.insights] == ["For me", "For everyone"]
    assert listed.insights[1].actions[0].tool == "create_task"
    assert await status_of(sessions, ws, mine.id) == InsightStatus.SEEN
    assert await status_of(sessions, ws, theirs.id) == InsightStatus.PENDING

    about = await call_tool(ws, "list_insights", {"record_type": "deal", "record_id": str(deal)})
    assert [i.id for i in about.insights] == [shared.id]
    theirs_listed = await call_tool(ws, "list_insights", {}, user_id=colleague.user_id,
                                    role=MemberRole.MEMBER)
    assert {i.title for i in theirs_listed.insights} == {"For everyone", "For a colleague"}
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "list_insights", {"status": "maybe"})


async def test_dismissing_someone_elses_or_another_workspaces_insight_is_not_found(
    call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture], sessions: Sessions,
    database: Any,
) -> None:
    a, b = two
    colleague = await add_member(database, a, MemberRole.MEMBER)
    theirs = await insight(sessions, a, "Colleague's", user_id=colleague.user_id)
    foreign = await insight(sessions, b, "Other workspace")
    errors = []
    for target in (theirs.id, foreign.id, uuid.uuid4()):
        with pytest.raises(ToolError) as caught:
            await call_tool(a, "dismiss_insight", {"insight_id": str(target)})
        errors.append(str(caught.value).replace(str(target), "<id>"))
    assert len(set(errors)) == 1, errors
    assert await status_of(sessions, a, theirs.id) == InsightStatus.PENDING
    assert await status_of(sessions, b, foreign.id) == InsightStatus.PENDING

    done = await call_tool(a, "dismiss_insight", {"insight_id": str(theirs.id)},
                           user_id=colleague.user_id, role=MemberRole.MEMBER)
    assert done.insight.status == "dismissed"


# -- act_on_insight ---------------------------------------------------------------------------
async def test_acting_twice_with_one_key_acts_once(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
) -> None:
    row = await insight(sessions, ws, "Chase Globex")
    first = await call_tool(ws, "act_on_insight", {"insight_id": str(row.id)}, key="turn:1")
    again = await call_tool(ws, "act_on_insight", {"insight_id": str(row.id)}, key="turn:1")
    assert first.status == again.status == "success" and first.result == again.result
    assert await count(sessions, ws, TodoHqTask) == 1
    assert await status_of(sessions, ws, row.id) == InsightStatus.ACTED
    async with scoped_session(sessions, ws.scope) as session:
        history = (await session.scalars(sa.select(NeptuneActionHistory))).all()
    assert [(h.action_type, h.target, h.status) for h in history] == [
        ("create_task", f"insight:{row.id}", "success")]


async def test_acting_follows_the_suggested_tools_permissions_and_risk(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions, database: Any,
) -> None:
    invoice_id = uuid.uuid4()
    send = {"tool": "send_invoice", "label": "Send", "arguments": {"invoice_id": str(invoice_id)}}
    row = await insight(sessions, ws, "Overdue", actions=[send])
    member = await add_member(database, ws, MemberRole.MEMBER)
    with pytest.raises(ToolFailed):  # sending invoices needs the billing permission
        await call_tool(ws, "act_on_insight", {"insight_id": str(row.id)},
                        user_id=member.user_id, role=MemberRole.MEMBER)
    assert await count(sessions, ws, AgentPendingAction) == 0
    assert await status_of(sessions, ws, row.id) == InsightStatus.PENDING

    queued = await call_tool(ws, "act_on_insight", {"insight_id": str(row.id)})
    assert queued.status == "awaiting_approval" and queued.result is None
    async with scoped_session(sessions, ws.scope) as session:
        pending = (await session.scalars(sa.select(AgentPendingAction))).one()
    assert pending.id == queued.pending_action_id and pending.tool_name == "send_invoice"
    assert pending.tool_arguments["invoice_id"] == str(invoice_id)


async def test_acting_refuses_bad_choices_and_changes_nothing(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
) -> None:
    row = await insight(sessions, ws, "One action")
    bogus = await insight(sessions, ws, "Bogus", actions=[
        {"tool": "no_such_tool", "label": "x", "arguments": {}},
        {"tool": "act_on_insight", "label": "loop", "arguments": {"insight_id": str(row.id)}},
        {"tool": "create_task", "label": "bad", "arguments": {"title": ""}}])
    expired = await insight(sessions, ws, "Old", expires_at=datetime.now().astimezone()
                            - timedelta(days=1))
    async with scoped_session(sessions, ws.scope) as session:
        await InsightRepository(session, ws.scope).expire()

    with pytest.raises(RetryableToolError, match="1 suggested action"):
        await call_tool(ws, "act_on_insight", {"insight_id": str(row.id), "action": 3})
    for index in (0, 1):
        with pytest.raises(ToolFailed, match="not available"):
            await call_tool(ws, "act_on_insight", {"insight_id": str(bogus.id), "action": index})
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "act_on_insight", {"insight_id": str(bogus.id), "action": 2})
    with pytest.raises(ToolFailed, match="expired"):
        await call_tool(ws, "act_on_insight", {"insight_id": str(expired.id)})
    with pytest.raises(ToolFailed):  # a viewer may not act
        await call_tool(ws, "act_on_insight", {"insight_id": str(row.id)},
                        role=MemberRole.VIEWER)
    assert await count(sessions, ws, TodoHqTask) == 0
    assert await count(sessions, ws, NeptuneActionHistory) == 0
    assert await status_of(sessions, ws, row.id) == InsightStatus.PENDING


# -- memory -----------------------------------------------------------------------------------
async def test_remember_recall_and_forget(
    call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture], sessions: Sessions,
) -> None:
    a, b = two
    first = await call_tool(a, "remember_fact", {"fact": "Our fiscal year starts in April",
                                                 "scope": "workspace"})
    again = await call_tool(a, "remember_fact", {"fact": "our  fiscal year starts in april",
                                                 "scope": "workspace"})
    assert not first.already_known and again.already_known
    assert again.fact.id == first.fact.id
    await call_tool(a, "remember_fact", {"fact": "I take my coffee black"})
    async with scoped_session(sessions, a.scope) as session:
        stored = (await session.scalars(sa.select(MemoryFact))).all()
    assert len(stored) == 2 and all(f.embedding is not None for f in stored)

    recalled = await call_tool(a, "recall_facts", {"query": "when does the financial year begin"})
    assert recalled.facts[0].fact == "Our fiscal year starts in April"
    assert (await call_tool(b, "recall_facts", {})).facts == []
    with pytest.raises(ToolError):
        await call_tool(b, "forget_fact", {"fact_id": str(first.fact.id)})
    with pytest.raises(RetryableToolError, match="no remembered fact"):
        await call_tool(a, "forget_fact", {"about": "quarterly sales targets for EMEA"})
    with pytest.raises(RetryableToolError):
        await call_tool(a, "forget_fact", {})

    gone = await call_tool(a, "forget_fact", {"about": "coffee"})
    assert gone.forgotten.fact == "I take my coffee black"
    left = await call_tool(a, "recall_facts", {})
    assert [f.fact for f in left.facts] == ["Our fiscal year starts in April"]


async def test_preferences_and_shortcuts_by_tool(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
) -> None:
    changed = await call_tool(ws, "set_preference", {"verbosity": "brief", "tone": "formal"})
    assert (changed.verbosity, changed.tone, changed.language) == ("brief", "formal", "en")
    for bad in ({}, {"timezone": "Nowhere/Land"}, {"verbosity": "terse"}, {"language": "x"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "set_preference", bad)
    kept = await call_tool(ws, "set_preference", {"language": "pt-BR"})
    assert (kept.verbosity, kept.tone, kept.language) == ("brief", "formal", "pt-BR")

    async with scoped_session(sessions, ws.scope) as session:
        session.add(Agent(workspace_id=ws.workspace_id, name="Lead scorer"))
    favourite = await call_tool(ws, "set_preference", {"favorite_agents": ["lead SCORER"]})
    assert favourite.favorite_agents == ["Lead scorer"] and favourite.verbosity == "brief"
    with pytest.raises(RetryableToolError, match="no agent named 'Ghost'"):
        await call_tool(ws, "set_preference", {"favorite_agents": ["Lead scorer", "Ghost"]})
    assert (await call_tool(ws, "set_preference", {"tone": "casual"})).favorite_agents == [
        "Lead scorer"]
    assert (await call_tool(ws, "set_preference", {"favorite_agents": []})).favorite_agents \
        == []

    made = await call_tool(ws, "set_shortcut", {"command": "pipeline",
                                                "expansion": "Show my open deals by stage"})
    assert made.shortcuts == {"/pipeline": "Show my open deals by stage"}
    removed = await call_tool(ws, "set_shortcut", {"command": "/pipeline"})
    assert removed.shortcuts == {}
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "set_shortcut", {"command": "/has space", "expansion": "x"})


class Unavailable:
    """An embedder whose model files are missing (as when the local model is not installed)."""

    name = "missing-model"
    dim = 384

    async def embed(self, texts: Any) -> list[list[float]]:
        raise EmbedderUnavailable("model files not found")


async def test_facts_stored_without_an_embedding_are_still_recalled_by_their_words(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
) -> None:
    broken = {EMBEDDER_SERVICE: Unavailable()}
    await call_tool(ws, "remember_fact", {"fact": "Our fiscal year starts in April",
                                          "scope": "workspace"}, services=broken)
    await call_tool(ws, "remember_fact", {"fact": "Invoices go out on the first Monday"},
                    services=broken)
    async with scoped_session(sessions, ws.scope) as session:
        stored = (await session.scalars(sa.select(MemoryFact))).all()
    assert [f.embedding for f in stored] == [None, None]

    for services in (broken, {}):  # no embedder at all, or one that never embedded them
        found = await call_tool(ws, "recall_facts", {"query": "when is the fiscal year?"},
                                services=services)
        assert [f.fact for f in found.facts] == ["Our fiscal year starts in April"]
    nothing = await call_tool(ws, "recall_facts", {"query": "what is our refund policy"},
                              services=broken)
    assert nothing.facts == []
    gone = await call_tool(ws, "forget_fact", {"about": "the invoices on Monday"},
                           services=broken)
    assert gone.forgotten.fact == "Invoices go out on the first Monday"
