"""Task tools against the real database: tasks, epics, sprints, their audit rows, bad
arguments, roles, and ids from another workspace."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import tools.tasks  # registers the task tools
from store.models.admin import (
    EpicStatus,
    SprintStatus,
    TaskPriority,
    TaskStatus,
)
from store.models.core import MemberRole
from store.repositories.admin import (
    EpicRepository,
    SprintRepository,
    TaskRepository,
)
from tests.conftest import WorkspaceFixture, create_workspace
from tests.tools.helpers import (
    CallTool,
    Sessions,
    add_member,
    audits,
    count,
    fetch,
    seed,
)
from tools.errors import RetryableToolError, ToolFailed
from tools.registry import registry
from tools.workspace import today

TASK_TOOLS = sorted(t.name for t in registry if t.fn.__module__ == tools.tasks.__name__)
WRITE_TOOLS = ["add_task_to_sprint", "create_epic", "create_sprint", "create_task",
               "update_task"]


# -- tasks -----------------------------------------------------------------------------------


async def test_create_task_defaults_links_and_audit(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    epic = await seed(sessions, ws, EpicRepository, name="Launch")
    sprint = await seed(sessions, ws, SprintRepository, name="S1")
    made = await call_tool(ws, "create_task", {"title": "Send the deck", "due_date": "2030-05-02"},
                           role=MemberRole.MEMBER)
    row = await fetch(sessions, ws, TaskRepository, made.task.id)
    assert (row.assignee_id, row.status, row.priority, row.completed_at) == (
        ws.user_id, TaskStatus.TODO, TaskPriority.MEDIUM, None)
    assert made.task.assignee_name.startswith("Test Owner") and not made.task.overdue
    linked = await call_tool(ws, "create_task", {
        "title": "Ship it", "epic_id": str(epic), "sprint_id": str(sprint), "priority": "urgent",
        "status": "done", "unassigned": True, "tags": ["ops"]})
    row = await fetch(sessions, ws, TaskRepository, linked.task.id)
    assert (row.epic_id, row.sprint_id, row.assignee_id, row.tags) == (
        epic, sprint, None, ["ops"])
    assert row.status == TaskStatus.DONE and row.completed_at is not None
    assert [(a.action, a.entity_type) for a in await audits(sessions, ws)] == [
        ("create", "todo_hq_task"), ("create", "todo_hq_task")]
    assert (await audits(sessions, ws))[0].changes["title"] == {
        "before": None, "after": "Send the deck"}


async def test_create_task_refuses_bad_arguments_and_closed_sprints(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    closed = await seed(sessions, ws, SprintRepository, name="Old",
                        status=SprintStatus.COMPLETED)
    for bad in ({}, {"title": ""}, {"title": "x", "priority": "asap"},
                {"title": "x", "due_date": "tomorrow"}, {"title": "x", "tags": [""]},
                {"title": "x", "assignee_id": str(uuid.uuid4())},
                {"title": "x", "epic_id": str(uuid.uuid4())}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_task", bad)
    with pytest.raises(ToolFailed, match="completed"):
        await call_tool(ws, "create_task", {"title": "x", "sprint_id": str(closed)})
    assert await count(sessions, ws, TaskRepository) == 0 and await audits(sessions, ws) == []


async def test_update_task_status_fields_and_clear(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    sam = await add_member(sessions, ws, "Sam")
    sprint = await seed(sessions, ws, SprintRepository, name="S1")
    task = await seed(sessions, ws, TaskRepository, title="Fix login", assignee_id=ws.user_id,
                      sprint_id=sprint, notes="keep me")
    done = await call_tool(ws, "update_task", {"task_id": str(task), "status": "done",
                                               "notes": None})
    assert done.task.status == TaskStatus.DONE and done.task.completed_at is not None
    moved = await call_tool(ws, "update_task", {
        "task_id": str(task), "status": "in_progress", "assignee_id": str(sam),
        "due_date": "2030-01-31", "clear": ["sprint_id"], "title": "Fix login for real"})
    row = await fetch(sessions, ws, TaskRepository, task)
    assert (row.status, row.completed_at, row.assignee_id, row.sprint_id, row.notes) == (
        TaskStatus.IN_PROGRESS, None, sam, None, "keep me")
    assert (moved.task.assignee_name, moved.task.title) == ("Sam Tester", "Fix login for real")
    retitled = await call_tool(ws, "update_task", {"task_id": str(task), "priority": "high"})
    assert retitled.task.priority == TaskPriority.HIGH
    actions = [a.action for a in await audits(sessions, ws)]
    assert actions == ["status_change", "status_change", "update"]
    first = (await audits(sessions, ws))[0]
    assert first.changes["status"] == {"before": "todo", "after": "done"}
    for bad in ({"task_id": str(task), "status": "blocked"},
                {"task_id": str(task), "clear": ["title"]},
                {"task_id": str(task), "assignee_id": str(uuid.uuid4())},
                {"task_id": str(task), "title": None}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "update_task", bad)
    assert len(await audits(sessions, ws)) == 3


async def test_list_tasks_filters_order_and_paging(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    sam = await add_member(sessions, ws, "Sam")
    epic = await seed(sessions, ws, EpicRepository, name="Launch")
    sprint = await seed(sessions, ws, SprintRepository, name="S1")
    now = today()

    async def task(title: str, days: int | None, **values: Any) -> uuid.UUID:
        due = now + timedelta(days=days) if days is not None else None
        return await seed(sessions, ws, TaskRepository, title=title, due_date=due, **values)

    late = await task("late", -2, assignee_id=ws.user_id, priority=TaskPriority.URGENT,
                      epic_id=epic, tags=["ops"])
    later_late = await task("late low", -2, assignee_id=ws.user_id, priority=TaskPriority.LOW)
    soon = await task("soon", 1, assignee_id=sam, sprint_id=sprint, notes="deck for Acme")
    undated = await task("someday", None)
    done = await task("done", -5, status=TaskStatus.DONE, completed_at=datetime.now(UTC))

    async def ids(args: dict[str, Any]) -> list[uuid.UUID]:
        result = await call_tool(ws, "list_tasks", args, role=MemberRole.VIEWER)
        return [t.id for t in result.tasks]

    assert await ids({}) == [done, late, later_late, soon, undated]
    assert await ids({"overdue": True}) == [late, later_late]
    assert await ids({"open_only": True, "mine": True}) == [late, later_late]
    assert await ids({"assignee_id": str(sam)}) == [soon]
    assert await ids({"epic_id": str(epic)}) == [late]
    assert await ids({"sprint_id": str(sprint)}) == [soon]
    assert await ids({"priority": "urgent"}) == [late]
    assert await ids({"tag": "ops"}) == [late]
    assert await ids({"query": "acme"}) == [soon]
    assert await ids({"status": "done"}) == [done]
    assert await ids({"due_before": str(now), "open_only": True}) == [late, later_late]
    page = await call_tool(ws, "list_tasks", {"limit": 2, "offset": 1})
    assert ([t.id for t in page.tasks], page.total) == ([late, later_late], 5)
    overdue = await call_tool(ws, "list_tasks", {"overdue": True})
    assert all(t.overdue for t in overdue.tasks) and overdue.total == 2
    for bad in ({"mine": True, "assignee_id": str(sam)}, {"limit": 101}, {"status": "late"},
                {"sprint_id": str(uuid.uuid4())}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_tasks", bad)


# -- epics and sprints -----------------------------------------------------------------------


async def test_epics_are_created_in_order_with_progress(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    first = await call_tool(ws, "create_epic", {"name": "Billing", "tags": ["money"],
                                                "target_completion_percent": 80})
    second = await call_tool(ws, "create_epic", {"name": "Mobile", "status": "in_progress"})
    rows = [await fetch(sessions, ws, EpicRepository, e.epic.id) for e in (first, second)]
    assert [(r.name, r.sort_order, r.status) for r in rows] == [
        ("Billing", 1, EpicStatus.NOT_STARTED), ("Mobile", 2, EpicStatus.IN_PROGRESS)]
    assert rows[0].target_completion_percent == 80
    await seed(sessions, ws, TaskRepository, title="a", epic_id=rows[0].id)
    await seed(sessions, ws, TaskRepository, title="b", epic_id=rows[0].id,
               status=TaskStatus.DONE, completed_at=datetime.now(UTC))
    listed = await call_tool(ws, "list_epics", {}, role=MemberRole.VIEWER)
    assert [e.name for e in listed.epics] == ["Billing", "Mobile"] and listed.total == 2
    assert (listed.epics[0].progress.total, listed.epics[0].progress.percent_done) == (2, 50)
    assert [e.name for e in (await call_tool(ws, "list_epics", {"status": "in_progress"})
                             ).epics] == ["Mobile"]
    assert [a.entity_type for a in await audits(sessions, ws)] == ["todo_hq_epic"] * 2
    for bad in ({"name": ""}, {"name": "x", "target_completion_percent": 120},
                {"name": "x", "status": "done"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_epic", bad)
    assert await count(sessions, ws, EpicRepository) == 2


async def test_sprints_create_list_and_plan_tasks(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions
) -> None:
    made = await call_tool(ws, "create_sprint", {
        "name": "Sprint 16", "start_date": "2030-06-02", "end_date": "2030-06-13",
        "goals": ["Ship Slack bot"]})
    sprint = await fetch(sessions, ws, SprintRepository, made.sprint.id)
    assert (sprint.status, sprint.goals, sprint.sort_order) == (
        SprintStatus.PLANNED, ["Ship Slack bot"], 1)
    task = await seed(sessions, ws, TaskRepository, title="Slack approvals")
    planned = await call_tool(ws, "add_task_to_sprint", {"task_id": str(task),
                                                         "sprint_id": str(sprint.id)})
    assert planned.task.sprint_id == sprint.id and planned.sprint.progress.todo == 1
    again = await call_tool(ws, "add_task_to_sprint", {"task_id": str(task),
                                                       "sprint_id": str(sprint.id)})
    assert again.task.sprint_id == sprint.id
    assert (await fetch(sessions, ws, TaskRepository, task)).sprint_id == sprint.id
    closed = await seed(sessions, ws, SprintRepository, name="Old",
                        status=SprintStatus.CANCELLED)
    with pytest.raises(ToolFailed, match="cancelled"):
        await call_tool(ws, "add_task_to_sprint", {"task_id": str(task),
                                                   "sprint_id": str(closed)})
    assert (await fetch(sessions, ws, TaskRepository, task)).sprint_id == sprint.id
    listed = await call_tool(ws, "list_sprints", {"status": "planned"}, role=MemberRole.VIEWER)
    assert [(s.name, s.progress.total) for s in listed.sprints] == [("Sprint 16", 1)]
    assert (await call_tool(ws, "list_sprints", {})).total == 2
    audit = await audits(sessions, ws)
    assert [(a.entity_type, a.action) for a in audit] == [
        ("todo_hq_sprint", "create"), ("todo_hq_task", "update")]
    assert audit[1].changes == {"sprint_id": {"before": None, "after": str(sprint.id)}}
    for bad in ({"name": "x", "start_date": "2030-02-02", "end_date": "2030-02-01"},
                {"name": "x", "status": "completed"}, {"name": "x", "goals": [""]}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "create_sprint", bad)
    assert await count(sessions, ws, SprintRepository) == 2


# -- roles and tenancy -----------------------------------------------------------------------


def test_task_tools_are_all_covered_and_writes_need_members() -> None:
    assert set(TASK_TOOLS) == set(FOREIGN_ARGS)
    assert sorted(t for t in TASK_TOOLS if registry.get(t).writes) == WRITE_TOOLS
    assert {registry.get(t).role for t in WRITE_TOOLS} == {MemberRole.MEMBER}


@pytest.mark.parametrize("name", WRITE_TOOLS)
async def test_viewers_cannot_use_task_writes(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions, name: str
) -> None:
    with pytest.raises(ToolFailed, match="member role"):
        await call_tool(ws, name, {"name": "x", "title": "x"}, role=MemberRole.VIEWER)
    assert await audits(sessions, ws) == []


Foreign = dict[str, uuid.UUID]


@pytest.fixture(scope="module")
async def foreign(sessions: Sessions) -> tuple[WorkspaceFixture, Foreign]:
    other = await create_workspace(sessions)
    sprint = await seed(sessions, other, SprintRepository, name="Theirs")
    epic = await seed(sessions, other, EpicRepository, name="Theirs")
    task = await seed(sessions, other, TaskRepository, title="Theirs", sprint_id=sprint)
    return other, {"task": task, "sprint": sprint, "epic": epic, "member": other.user_id}


FOREIGN_ARGS: dict[str, list[Callable[[Foreign, Foreign], dict[str, Any]]]] = {
    "create_task": [lambda f, _: {"title": "x", "epic_id": str(f["epic"])},
                    lambda f, _: {"title": "x", "sprint_id": str(f["sprint"])},
                    lambda f, _: {"title": "x", "assignee_id": str(f["member"])}],
    "update_task": [lambda f, _: {"task_id": str(f["task"]), "status": "done"},
                    lambda f, mine: {"task_id": str(mine["task"]), "epic_id": str(f["epic"])}],
    "add_task_to_sprint": [
        lambda f, mine: {"task_id": str(f["task"]), "sprint_id": str(mine["sprint"])},
        lambda f, mine: {"task_id": str(mine["task"]), "sprint_id": str(f["sprint"])}],
    "list_tasks": [lambda f, _: {"epic_id": str(f["epic"])},
                   lambda f, _: {"assignee_id": str(f["member"])}],
    "create_epic": [lambda f, _: {"name": "x", "target_completion_percent": -1}],
    "create_sprint": [lambda f, _: {"name": "x", "status": "cancelled"}],
    "list_sprints": [lambda f, _: {"limit": 0}],
    "list_epics": [lambda f, _: {"status": "late"}],
}


@pytest.mark.parametrize(("name", "case"), [
    (name, i) for name, cases in sorted(FOREIGN_ARGS.items()) for i in range(len(cases))])
async def test_ids_from_another_workspace_are_not_found(
    call_tool: CallTool, ws: WorkspaceFixture, sessions: Sessions,
    foreign: tuple[WorkspaceFixture, Foreign], name: str, case: int,
) -> None:
    """Tools taking ids get another workspace's ids; tools without ids get a bad argument.
    Either way: a retryable error and nothing written in either workspace."""
    other, theirs = foreign
    mine = {"task": await seed(sessions, ws, TaskRepository, title="Mine"),
            "sprint": await seed(sessions, ws, SprintRepository, name="Mine")}
    with pytest.raises(RetryableToolError):
        await call_tool(ws, name, FOREIGN_ARGS[name][case](theirs, mine))
    assert await audits(sessions, ws) == [] and await audits(sessions, other) == []
    task = await fetch(sessions, other, TaskRepository, theirs["task"])
    assert (task.status, task.sprint_id, task.epic_id) == (
        TaskStatus.TODO, theirs["sprint"], None)
    own = await fetch(sessions, ws, TaskRepository, mine["task"])
    assert (own.sprint_id, own.epic_id) == (None, None)
    assert await count(sessions, ws, TaskRepository) == 1
