"""Agent tools against the real database: what each write stores and audits, bad arguments that
change nothing, roles, and ids from another workspace."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from store.models.admin import AuditLog
from store.models.agents import (
    Agent,
    AgentExecution,
    AgentSchedule,
    AgentStatus,
    AgentTemplate,
    AgentType,
    ExecutionStatus,
)
from store.models.core import MemberRole
from store.repositories.agents import (
    AgentExecutionRepository,
    AgentLogRepository,
    AgentRepository,
    AgentScheduleRepository,
    AgentTemplateCatalogue,
)
from store.repositories.base import utcnow
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit_trail, fetch, row_counts, seed, unchanged
from tools.errors import RetryableToolError, ToolFailed

AGENT_WRITES = {
    "create_agent": {"name": "X", "system_prompt": "Do X."},
    "update_agent": {"agent_id": "{agent}", "status": "paused"},
    "install_agent_template": {"slug": "lead-scout"},
    "run_agent": {"agent_id": "{agent}", "task": "Go"},
    "schedule_agent": {"agent_id": "{agent}", "cron": "0 8 * * *", "task": "Go"},
    "unschedule_agent": {"schedule_id": "{schedule}"},
}
BY_ID = {
    **AGENT_WRITES,
    "get_agent": {"agent_id": "{agent}"},
    "list_agent_executions": {"agent_id": "{agent}"},
    "get_agent_execution": {"execution_id": "{execution}"},
}
BY_ID.pop("create_agent")
BY_ID.pop("install_agent_template")


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    return await row_counts(sessions, ws, Agent, AgentExecution, AgentSchedule, AuditLog)


async def agent(sessions: Sessions, ws: WorkspaceFixture, name: str = "Scout",
                **values: Any) -> uuid.UUID:
    config = {"systemPrompt": f"You are {name}.", "tools": ["list_tasks"], "model": None}
    return await seed(sessions, ws, AgentRepository, name=name, config=config,
                      status=values.pop("status", AgentStatus.ACTIVE), created_by=ws.user_id,
                      **values)


async def world(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, str]:
    """One of everything the agent tools take an id of."""
    agent_id = await agent(sessions, ws)
    schedule = await seed(sessions, ws, AgentScheduleRepository, agent_id=agent_id,
                          cron="0 8 * * *", trigger_type="scheduled",
                          next_run_at=utcnow() + timedelta(hours=3))
    execution = await seed(sessions, ws, AgentExecutionRepository, agent_id=agent_id,
                           input={"task": "Earlier"})
    return {"agent": str(agent_id), "schedule": str(schedule), "execution": str(execution)}


def filled(args: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    return {k: v.format(**ids) if isinstance(v, str) else v for k, v in args.items()}


@pytest.mark.parametrize("name", sorted(AGENT_WRITES))
async def test_viewers_cannot_write(call_tool: CallTool, ws: WorkspaceFixture,
                                    sessions: Sessions, name: str) -> None:
    ids = await world(sessions, ws)
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="role"):
            await call_tool(ws, name, filled(AGENT_WRITES[name], ids), role=MemberRole.VIEWER)


@pytest.mark.parametrize("name", sorted(BY_ID))
async def test_another_workspaces_ids_are_not_found(
    call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture], sessions: Sessions,
    name: str,
) -> None:
    mine, theirs = two
    ids = await world(sessions, theirs)
    await world(sessions, mine)
    async with unchanged(footprint, sessions, mine, theirs):
        with pytest.raises(RetryableToolError, match=r"no .* with id"):
            await call_tool(mine, name, filled(BY_ID[name], ids))


# -- agents ------------------------------------------------------------------------------------


async def test_create_agent_stores_its_config_and_replays(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    args = {"name": "Tidier", "system_prompt": "Keep tasks tidy.", "model": "primary",
            "tools": ["list_tasks", "create_task", "list_tasks"], "type": "task"}
    made = await call_tool(ws, "create_agent", args, role=MemberRole.MEMBER, key="k1")
    again = await call_tool(ws, "create_agent", args, role=MemberRole.MEMBER, key="k1")
    assert again.agent.id == made.agent.id
    row = await fetch(sessions, ws, AgentRepository, made.agent.id)
    assert row.config == {"model": "primary", "systemPrompt": "Keep tasks tidy.",
                          "tools": ["list_tasks", "create_task"]}
    assert (row.status, row.type, row.created_by, row.is_custom) == (
        AgentStatus.ACTIVE, "task", ws.user_id, True)
    [(action, changes)] = await audit_trail(sessions, ws, "agent")
    assert action == "create" and changes["name"] == {"before": None, "after": "Tidier"}


@pytest.mark.parametrize("bad", [
    {}, {"name": "", "system_prompt": "x"}, {"name": "x", "system_prompt": ""},
    {"name": "x", "system_prompt": "y", "tools": ["no_such_tool"]},
    {"name": "x", "system_prompt": "y", "tools": ["run_agent"]},
    {"name": "x", "system_prompt": "y", "model": "two words"},
    {"name": "x", "system_prompt": "y", "status": "paused"},
])
async def test_create_agent_refuses_bad_arguments(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions, bad: dict[str, Any]
) -> None:
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_agent", bad)


async def test_update_agent_pauses_activates_and_replaces_config(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    agent_id = await agent(sessions, ws)
    paused = await call_tool(ws, "update_agent", {"agent_id": str(agent_id), "status": "paused"})
    assert paused.agent.status == AgentStatus.PAUSED
    changed = await call_tool(ws, "update_agent", {
        "agent_id": str(agent_id), "status": "active", "tools": ["create_task"],
        "model": "primary", "name": "Scout II"})
    row = await fetch(sessions, ws, AgentRepository, agent_id)
    assert (row.status, row.name, row.config["tools"], row.config["model"]) == (
        AgentStatus.ACTIVE, "Scout II", ["create_task"], "primary")
    assert row.config["systemPrompt"] == "You are Scout." and changed.agent.model == "primary"
    cleared = await call_tool(ws, "update_agent", {"agent_id": str(agent_id),
                                                   "use_workspace_model": True})
    assert cleared.agent.model is None
    trail = await audit_trail(sessions, ws, "agent", agent_id)
    assert [a for a, _ in trail] == ["status_change", "status_change", "update"]
    assert trail[0][1]["status"] == {"before": "active", "after": "paused"}
    async with unchanged(footprint, sessions, ws):
        for bad in ({"agent_id": str(agent_id)},
                    {"agent_id": str(agent_id), "tools": ["nope_tool"]},
                    {"agent_id": str(agent_id), "status": "archived"},
                    {"agent_id": str(agent_id), "model": "m", "use_workspace_model": True}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "update_agent", bad)
    archived = await agent(sessions, ws, "Old", status=AgentStatus.ARCHIVED)
    with pytest.raises(ToolFailed, match="archived"):
        await call_tool(ws, "update_agent", {"agent_id": str(archived), "name": "New"})


async def test_list_and_get_agents(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    scout = await agent(sessions, ws, "Scout")
    await agent(sessions, ws, "Napper", status=AgentStatus.PAUSED)
    await agent(sessions, ws, "Gone", status=AgentStatus.ARCHIVED)
    listed = await call_tool(ws, "list_agents", {}, role=MemberRole.VIEWER)
    assert [a.name for a in listed.agents] == ["Napper", "Scout"] and not listed.has_more
    paused = await call_tool(ws, "list_agents", {"status": "paused"}, role=MemberRole.VIEWER)
    assert [a.name for a in paused.agents] == ["Napper"]
    page = await call_tool(ws, "list_agents", {"limit": 1}, role=MemberRole.VIEWER)
    assert page.has_more and page.next_cursor
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "list_agents", {"limit": 0}, role=MemberRole.VIEWER)

    await seed(sessions, ws, AgentScheduleRepository, agent_id=scout, cron="0 8 * * *",
               trigger_type="scheduled", next_run_at=utcnow() + timedelta(hours=2))
    async with scoped_session(sessions, ws.scope) as s:
        runs = AgentExecutionRepository(s, ws.scope)
        done = await runs.start(scout, input={"task": "First"})
        await runs.finish(done.id, ExecutionStatus.COMPLETED, output={"text": "ok"},
                          tokens_used=40)
    detail = await call_tool(ws, "get_agent", {"agent_id": str(scout)}, role=MemberRole.VIEWER)
    assert detail.system_prompt == "You are Scout." and detail.agent.tools == ["list_tasks"]
    assert [s.cron for s in detail.schedules] == ["0 8 * * *"]
    assert (detail.stats.runs, detail.stats.completed, detail.stats.tokens_used) == (1, 1, 40)
    assert [(r.task, r.answer) for r in detail.recent_runs] == [("First", "ok")]


async def test_install_agent_template_copies_its_config(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    slug = f"tidy-{uuid.uuid4().hex[:8]}"
    async with scoped_session(sessions, ws.scope) as s:
        ids = await AgentTemplateCatalogue(s).ensure([
            {"slug": slug, "name": "Tidy", "category": "ops", "is_published": True,
             "config": {"systemPrompt": "Tidy up.", "tools": ["list_tasks"]}},
            {"slug": slug + "-draft", "name": "Draft", "category": "ops",
             "is_published": False}])
    made = await call_tool(ws, "install_agent_template", {"slug": slug, "name": "My tidy"})
    by_id = await call_tool(ws, "install_agent_template", {"template_id": str(ids[slug])})
    row = await fetch(sessions, ws, AgentRepository, made.agent.id)
    assert (row.name, row.source_template_id, row.is_custom, row.status) == (
        "My tidy", ids[slug], False, AgentStatus.ACTIVE)
    assert row.config == {"systemPrompt": "Tidy up.", "tools": ["list_tasks"]}
    assert by_id.agent.name == "Tidy"
    async with scoped_session(sessions, ws.scope) as s:
        template = await AgentTemplateCatalogue(s).get(ids[slug])
    assert isinstance(template, AgentTemplate) and template.install_count == 2
    assert [a for a, _ in await audit_trail(sessions, ws, "agent")] == ["install", "install"]
    async with unchanged(footprint, sessions, ws):
        for bad in ({}, {"slug": "no-such-template"},
                    {"slug": slug, "template_id": str(ids[slug])},
                    {"template_id": str(uuid.uuid4())}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "install_agent_template", bad)
        with pytest.raises(ToolFailed, match="not published"):
            await call_tool(ws, "install_agent_template", {"slug": slug + "-draft"})


async def test_list_agent_templates_then_install_one(
    call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture], sessions: Sessions
) -> None:
    ws, other = two
    category, word = f"cat-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    triage, notes = f"triage-{word}", f"notes-{word}"
    rows: list[dict[str, Any]] = [
        {"slug": triage, "name": "Triage", "category": category, "type": AgentType.EMAIL,
         "short_description": f"Sorts the {word} inbox.", "description": "Long story.",
         "trending_score": 20, "config": {"systemPrompt": "Sort.", "tools": ["list_tasks"]}},
        {"slug": notes, "name": "Notes", "category": category, "type": AgentType.MEETING,
         "description": "Notes from every call.", "trending_score": 10},
        {"slug": f"draft-{word}", "name": f"Draft {word} inbox", "category": category,
         "is_published": False},
    ]
    ids: dict[str, uuid.UUID] = {}
    async with scoped_session(sessions, ws.scope) as s:
        for row in rows:  # one by one: a multi-row insert needs the same keys in every row
            ids.update(await AgentTemplateCatalogue(s).ensure([row]))

    listed = await call_tool(ws, "list_agent_templates", {"category": category},
                             role=MemberRole.VIEWER)
    assert [(t.slug, t.type, t.description, t.tools) for t in listed.templates] == [
        (triage, AgentType.EMAIL, f"Sorts the {word} inbox.", ["list_tasks"]),
        (notes, AgentType.MEETING, "Notes from every call.", [])]
    assert not listed.has_more
    found = await call_tool(ws, "list_agent_templates", {"query": f"INBOX {word}"})
    assert [t.id for t in found.templates] == [ids[triage]]  # every word, any case; no draft
    by_slug = await call_tool(ws, "list_agent_templates", {"query": word})
    assert [t.slug for t in by_slug.templates] == [triage, notes]
    meetings = await call_tool(ws, "list_agent_templates", {"category": category,
                                                            "type": "meeting"})
    assert [t.slug for t in meetings.templates] == [notes]
    one = await call_tool(ws, "list_agent_templates", {"category": category, "limit": 1})
    assert [t.slug for t in one.templates] == [triage] and one.has_more
    theirs = await call_tool(other, "list_agent_templates", {"category": category})
    assert theirs == listed  # one marketplace, shared by every workspace

    made = await call_tool(ws, "install_agent_template",
                           {"template_id": str(found.templates[0].id)}, role=MemberRole.MEMBER)
    assert (made.agent.name, made.agent.type, made.agent.tools, made.agent.source_template_id) \
        == ("Triage", AgentType.EMAIL, ["list_tasks"], ids[triage])
    for bad in ({"limit": 0}, {"limit": 51}, {"type": "robot"}, {"slug": triage}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_agent_templates", bad)


# -- runs --------------------------------------------------------------------------------------


async def test_run_agent_queues_a_pending_execution_once(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    scout = await agent(sessions, ws)
    queued = await call_tool(ws, "run_agent", {"agent_id": str(scout), "task": "Find leads"},
                             role=MemberRole.MEMBER, key="run-1")
    again = await call_tool(ws, "run_agent", {"agent_id": str(scout), "task": "Find leads"},
                            role=MemberRole.MEMBER, key="run-1")
    assert again.execution.id == queued.execution.id
    row = await fetch(sessions, ws, AgentExecutionRepository, queued.execution.id)
    assert (row.status, row.input, row.triggered_by, row.started_at) == (
        ExecutionStatus.PENDING, {"task": "Find leads"}, ws.user_id, None)
    assert [a for a, _ in await audit_trail(sessions, ws, "agent_execution")] == ["create"]
    napper = await agent(sessions, ws, "Napper", status=AgentStatus.PAUSED)
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed, match="paused"):
            await call_tool(ws, "run_agent", {"agent_id": str(napper), "task": "Go"})
        for bad in ({"agent_id": str(scout), "task": ""}, {"agent_id": "not-an-id", "task": "x"},
                    {"task": "x"}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "run_agent", bad)


async def test_list_and_get_agent_executions(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    scout, other = await agent(sessions, ws), await agent(sessions, ws, "Other")
    async with scoped_session(sessions, ws.scope) as s:  # one transaction per run: its own time
        runs = AgentExecutionRepository(s, ws.scope)
        bad = await runs.start(scout, input={"task": "Broken"})
        await runs.finish(bad.id, ExecutionStatus.FAILED, error={"message": "boom"})
    async with scoped_session(sessions, ws.scope) as s:
        runs = AgentExecutionRepository(s, ws.scope)
        good = await runs.start(scout, input={"task": "Fine"})
        await runs.finish(good.id, ExecutionStatus.COMPLETED, output={"text": "All good"})
        await runs.queue(other, input={"task": "Later"})
        await AgentLogRepository(s, ws.scope).create(
            agent_id=scout, execution_id=good.id, success=True, model="m",
            output_summary="All good")
    listed = await call_tool(ws, "list_agent_executions", {"agent_id": str(scout)},
                             role=MemberRole.VIEWER)
    assert [e.task for e in listed.executions] == ["Fine", "Broken"]
    failed = await call_tool(ws, "list_agent_executions", {"status": "failed"},
                             role=MemberRole.VIEWER)
    assert [(e.task, e.error) for e in failed.executions] == [("Broken", "boom")]
    everyone = await call_tool(ws, "list_agent_executions", {"limit": 2},
                               role=MemberRole.VIEWER)
    assert len(everyone.executions) == 2 and everyone.has_more
    detail = await call_tool(ws, "get_agent_execution", {"execution_id": str(good.id)},
                             role=MemberRole.VIEWER)
    assert detail.answer == "All good" and [c.model for c in detail.model_calls] == ["m"]
    with pytest.raises(RetryableToolError):
        await call_tool(ws, "list_agent_executions", {"status": "sleeping"})


# -- schedules ---------------------------------------------------------------------------------


async def test_schedule_agent_reads_cron_in_its_time_zone(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    scout = await agent(sessions, ws)
    made = await call_tool(ws, "schedule_agent", {
        "agent_id": str(scout), "cron": "0  8 * * 1-5", "timezone": "America/New_York",
        "task": "Morning leads"}, role=MemberRole.MEMBER)
    row = await fetch(sessions, ws, AgentScheduleRepository, made.schedule.id)
    local = row.next_run_at.astimezone(ZoneInfo("America/New_York"))
    assert (local.hour, local.minute, local.weekday() < 5) == (8, 0, True)
    assert row.next_run_at > utcnow() and row.next_run_at - utcnow() < timedelta(days=4)
    assert (row.cron, row.enabled, row.trigger_type, row.input) == (
        "0 8 * * 1-5", True, "scheduled",
        {"task": "Morning leads", "scheduled_by": str(ws.user_id)})
    assert made.schedule.next_run_local.startswith(local.date().isoformat())
    async with unchanged(footprint, sessions, ws):
        for bad in ({"cron": "every morning"}, {"cron": "* * * * *"},
                    {"cron": "0 0 8 * * 1-5"}, {"cron": "61 8 * * *"},
                    {"timezone": "Mars/Olympus"}, {"task": ""}):
            args = {"agent_id": str(scout), "cron": "0 8 * * *", "task": "x", **bad}
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "schedule_agent", args)


async def test_unschedule_agent_disables_the_schedule(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    ids = await world(sessions, ws)
    stopped = await call_tool(ws, "unschedule_agent", {"schedule_id": ids["schedule"]})
    assert not stopped.schedule.enabled
    row = await fetch(sessions, ws, AgentScheduleRepository, uuid.UUID(ids["schedule"]))
    assert not row.enabled
    again = await call_tool(ws, "unschedule_agent", {"schedule_id": ids["schedule"]})
    assert not again.schedule.enabled
    trail = await audit_trail(sessions, ws, "agent_schedule")
    assert trail == [("update", {"enabled": {"before": True, "after": False}})]
