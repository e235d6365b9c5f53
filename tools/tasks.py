"""Task tools: the team's to-do board (`todo_hq_tasks`), grouped in epics and planned in sprints.

A task is done exactly when its `completed_at` is set; the repository keeps the two together,
so these tools only ever set the status. "Overdue" means open (todo or in progress) with a due
date before today (UTC). Low risk, but writes: creating and changing tasks needs the member role.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator

from store.errors import Conflict, InvalidArgument
from store.models.admin import (
    EpicStatus,
    SprintStatus,
    TaskPriority,
    TaskStatus,
    TodoHqEpic,
    TodoHqSprint,
    TodoHqTask,
)
from store.models.core import MemberRole
from store.repositories.admin import (
    EpicRepository,
    SprintRepository,
    TaskProgress,
    TaskRepository,
    task_priority_rank,
)
from store.repositories.crm import ilike_any
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.registry import Risk, tool
from tools.workspace import count_rows, require_member, today, user_names

TASK_FIELDS = ("title", "description", "status", "priority", "due_date", "assignee_id",
               "epic_id", "sprint_id", "tags", "notes", "completed_at")
EPIC_FIELDS = ("name", "description", "status", "target_completion_percent", "tags",
               "sort_order")
SPRINT_FIELDS = ("name", "description", "status", "start_date", "end_date", "goals",
                 "sort_order")
OPEN_STATUSES = [s for s in TaskStatus if s.is_open]
CLOSED_SPRINTS = (SprintStatus.COMPLETED, SprintStatus.CANCELLED)
Tag = Annotated[str, Field(min_length=1, max_length=50)]
Goal = Annotated[str, Field(min_length=1, max_length=300)]


class TaskOut(BaseModel):
    id: uuid.UUID
    title: str
    status: TaskStatus
    priority: TaskPriority
    due_date: date | None
    overdue: bool
    assignee_id: uuid.UUID | None
    assignee_name: str | None
    epic_id: uuid.UUID | None
    sprint_id: uuid.UUID | None
    tags: list[str]
    description: str | None
    notes: str | None
    completed_at: datetime | None

    @classmethod
    def of(cls, row: TodoHqTask, names: dict[uuid.UUID, str]) -> TaskOut:
        overdue = row.status.is_open and row.due_date is not None and row.due_date < today()
        return cls(
            id=row.id, title=row.title, status=row.status, priority=row.priority,
            due_date=row.due_date, overdue=overdue, assignee_id=row.assignee_id,
            assignee_name=names.get(row.assignee_id) if row.assignee_id else None,
            epic_id=row.epic_id, sprint_id=row.sprint_id, tags=list(row.tags),
            description=row.description, notes=row.notes, completed_at=row.completed_at,
        )


class ProgressOut(BaseModel):
    total: int
    todo: int
    in_progress: int
    done: int
    cancelled: int
    percent_done: int = Field(description="Done among tasks not cancelled, in percent.")

    @classmethod
    def of(cls, progress: TaskProgress) -> ProgressOut:
        return cls(total=progress.total, todo=progress.todo, in_progress=progress.in_progress,
                   done=progress.done, cancelled=progress.cancelled,
                   percent_done=progress.percent_done)


class TaskResult(BaseModel):
    task: TaskOut


async def _task_result(ctx: ToolContext, task: TodoHqTask) -> TaskResult:
    return TaskResult(task=TaskOut.of(task, await user_names(ctx, [task.assignee_id])))


async def _open_sprint(ctx: ToolContext, sprint_id: uuid.UUID) -> TodoHqSprint:
    """The sprint, if work can still be planned into it (not completed or cancelled)."""
    sprint = await SprintRepository(ctx.session, ctx.scope).get(sprint_id)
    if sprint.status in CLOSED_SPRINTS:
        raise Conflict(f"sprint {sprint.name!r} is {sprint.status}; choose an open sprint")
    return sprint


async def _check_links(ctx: ToolContext, values: dict[str, Any]) -> None:
    """Assignee must be a member; epic and sprint must exist here (sprint still open)."""
    if values.get("assignee_id") is not None:
        await require_member(ctx, values["assignee_id"])
    if values.get("epic_id") is not None:
        await EpicRepository(ctx.session, ctx.scope).get(values["epic_id"])
    if values.get("sprint_id") is not None:
        await _open_sprint(ctx, values["sprint_id"])


def _given(args: BaseModel, *exclude: str) -> dict[str, Any]:
    """Arguments given a value (None means "leave unchanged")."""
    return {name: getattr(args, name) for name in args.model_fields_set
            if name not in exclude and getattr(args, name) is not None}


# -- tasks ------------------------------------------------------------------------------------


class TaskFields(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    description: str | None = Field(default=None, max_length=10_000, description="Details.")
    priority: TaskPriority | None = Field(default=None, description="low, medium, high, urgent.")
    due_date: date | None = Field(default=None, description="Due date, YYYY-MM-DD.")
    assignee_id: uuid.UUID | None = Field(
        default=None, description="user_id of the member doing it (list_team_members)."
    )
    epic_id: uuid.UUID | None = Field(default=None, description="Epic it belongs to.")
    sprint_id: uuid.UUID | None = Field(default=None, description="Open sprint to plan it in.")
    tags: list[Tag] | None = Field(
        default=None, max_length=20, description="Tags; on update, replaces all tags."
    )
    notes: str | None = Field(default=None, max_length=10_000, description="Working notes.")


class CreateTaskArgs(TaskFields):
    title: str = Field(min_length=1, max_length=300, description="What to do, e.g. 'Send deck'.")
    status: TaskStatus = Field(default=TaskStatus.TODO, description="Starting status.")
    unassigned: bool = Field(
        default=False, description="Leave it unassigned instead of assigning it to you."
    )


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Create task {title}",
    examples=("remind me to send the Acme deck by Friday", "add a task for Lee: fix the login bug",
              "create an urgent task to renew the SSL certificate"),
)
async def create_task(ctx: ToolContext, args: CreateTaskArgs) -> TaskResult:
    """Create a task on the team board. It is assigned to you unless you give assignee_id or
    set unassigned; priority defaults to medium. Put it in an epic or an open sprint by id."""
    values = _given(args, "unassigned")
    await _check_links(ctx, values)
    values["status"] = args.status
    if not args.unassigned:
        values.setdefault("assignee_id", ctx.caller.user_id)
    task = await TaskRepository(ctx.session, ctx.scope).create(**values)
    await record_change(ctx, "create", "todo_hq_task", task.id,
                        after=snapshot(task, TASK_FIELDS))
    return await _task_result(ctx, task)


TaskClearable = Literal["description", "due_date", "assignee_id", "epic_id", "sprint_id", "notes"]


class UpdateTaskArgs(TaskFields):
    task_id: uuid.UUID = Field(description="The task, from list_tasks.")
    title: str | None = Field(default=None, min_length=1, max_length=300, description="New title.")
    status: TaskStatus | None = Field(
        default=None, description="todo, in_progress, done or cancelled."
    )
    clear: tuple[TaskClearable, ...] = Field(
        default=(), description="Fields to empty, e.g. ['due_date'] or ['sprint_id']."
    )


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Update task {task_id}",
    examples=("mark the deck task as done", "move the login bug to Friday",
              "reassign the SSL task to Sam", "I'm starting on the pricing FAQ"),
)
async def update_task(ctx: ToolContext, args: UpdateTaskArgs) -> TaskResult:
    """Change a task: status (done records the completion time), title, priority, due date,
    assignee, epic, sprint, tags or notes. Only fields you give change; `clear` empties
    optional ones (e.g. unassign, remove from sprint)."""
    repo = TaskRepository(ctx.session, ctx.scope)
    task = await repo.get(args.task_id)
    values = _given(args, "task_id", "clear")
    await _check_links(ctx, values)
    values.update({name: None for name in args.clear})
    if not values:
        raise InvalidArgument("nothing to change: give at least one field (or `clear`)")
    before = snapshot(task, TASK_FIELDS)
    moved = "status" in values and values["status"] != task.status
    task = await repo.update(task.id, **values)
    await record_change(ctx, "status_change" if moved else "update", "todo_hq_task", task.id,
                        before=before, after=snapshot(task, TASK_FIELDS))
    return await _task_result(ctx, task)


class ListTasksArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(default="", max_length=200, description="Text in the title or notes.")
    status: TaskStatus | None = Field(default=None, description="Only this status.")
    open_only: bool = Field(
        default=False, description="Only todo and in-progress tasks (ignored with `status`)."
    )
    overdue: bool = Field(default=False, description="Only open tasks due before today.")
    due_before: date | None = Field(
        default=None, description="Only tasks due on or before this date (YYYY-MM-DD)."
    )
    mine: bool = Field(default=False, description="Only tasks assigned to you.")
    assignee_id: uuid.UUID | None = Field(default=None, description="Only this member's tasks.")
    epic_id: uuid.UUID | None = Field(default=None, description="Only tasks in this epic.")
    sprint_id: uuid.UUID | None = Field(default=None, description="Only tasks in this sprint.")
    priority: TaskPriority | None = Field(default=None, description="Only this priority.")
    tag: str | None = Field(default=None, max_length=50, description="Only tasks with this tag.")
    limit: int = Field(default=20, ge=1, le=100, description="Tasks per page (1-100).")
    offset: int = Field(default=0, ge=0, le=10_000, description="Skip this many (paging).")

    @model_validator(mode="after")
    def _one_assignee(self) -> ListTasksArgs:
        if self.mine and self.assignee_id is not None:
            raise ValueError("give either mine or assignee_id, not both")
        return self


class TasksResult(BaseModel):
    tasks: list[TaskOut] = Field(description="Soonest due first, then most urgent.")
    total: int = Field(description="Tasks matching the filters.")


def _status_filters(args: ListTasksArgs) -> list[sa.ColumnElement[bool]]:
    if args.status is not None:
        return [TodoHqTask.status == args.status]
    if args.open_only or args.overdue:
        return [TodoHqTask.status.in_(OPEN_STATUSES)]
    return []


def _task_filters(ctx: ToolContext, args: ListTasksArgs) -> list[sa.ColumnElement[bool]]:
    where = _status_filters(args)
    if args.query.strip():
        where.append(ilike_any(args.query.strip(), TodoHqTask.title, TodoHqTask.notes))
    if args.overdue:
        where.append(TodoHqTask.due_date < today())
    if args.due_before is not None:
        where.append(TodoHqTask.due_date <= args.due_before)
    assignee = ctx.caller.user_id if args.mine else args.assignee_id
    for column, value in ((TodoHqTask.assignee_id, assignee), (TodoHqTask.epic_id, args.epic_id),
                          (TodoHqTask.sprint_id, args.sprint_id),
                          (TodoHqTask.priority, args.priority)):
        if value is not None:
            where.append(column == value)
    if args.tag is not None:
        where.append(TodoHqTask.tags.contains([args.tag]))
    return where


async def _check_filter_ids(ctx: ToolContext, args: ListTasksArgs) -> None:
    """A filter id that names nothing here is a wrong argument, not an empty result."""
    if args.assignee_id is not None:
        await require_member(ctx, args.assignee_id, former_ok=True)
    if args.epic_id is not None:
        await EpicRepository(ctx.session, ctx.scope).get(args.epic_id)
    if args.sprint_id is not None:
        await SprintRepository(ctx.session, ctx.scope).get(args.sprint_id)


@tool(risk=Risk.LOW, examples=(
    "what's on my plate?", "which tasks are overdue?", "show the tasks in the current sprint",
    "urgent tasks due this week",
))
async def list_tasks(ctx: ToolContext, args: ListTasksArgs) -> TasksResult:
    """List tasks with filters: status or open only, overdue (open and due before today), due
    on or before a date, yours or a member's, epic, sprint, priority, tag, text. Sorted by due
    date (undated last), then urgency. Returns the total for paging with offset."""
    await _check_filter_ids(ctx, args)
    stmt = TaskRepository(ctx.session, ctx.scope).select().where(*_task_filters(ctx, args))
    order: list[Any] = [TodoHqTask.due_date.asc().nulls_last(), task_priority_rank().desc(),
             TodoHqTask.created_at, TodoHqTask.id]
    rows = list(await ctx.session.scalars(
        stmt.order_by(*order).limit(args.limit).offset(args.offset)))
    names = await user_names(ctx, [t.assignee_id for t in rows])
    return TasksResult(tasks=[TaskOut.of(t, names) for t in rows],
                       total=await count_rows(ctx, stmt))


# -- epics and sprints ------------------------------------------------------------------------


class EpicOut(BaseModel):
    id: uuid.UUID
    name: str
    status: EpicStatus
    description: str | None
    target_completion_percent: int
    tags: list[str]
    progress: ProgressOut


class EpicResult(BaseModel):
    epic: EpicOut


async def _epic_out(ctx: ToolContext, epic: TodoHqEpic) -> EpicOut:
    progress = await EpicRepository(ctx.session, ctx.scope).progress(epic.id)
    return EpicOut(id=epic.id, name=epic.name, status=epic.status, description=epic.description,
                   target_completion_percent=epic.target_completion_percent,
                   tags=list(epic.tags), progress=ProgressOut.of(progress.tasks))


async def _next_sort_order(ctx: ToolContext, rows: sa.Select[Any]) -> int:
    """One past the highest board position among `rows`, so a new epic or sprint goes last."""
    board = rows.subquery()
    highest = await ctx.session.scalar(sa.select(sa.func.max(board.c.sort_order)))
    return int(highest or 0) + 1


class CreateEpicArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Epic name, e.g. 'Billing v2'.")
    description: str | None = Field(default=None, max_length=10_000, description="Its goal.")
    status: EpicStatus = Field(default=EpicStatus.NOT_STARTED, description="Starting status.")
    target_completion_percent: int = Field(
        default=100, ge=0, le=100, description="Percent of tasks done that counts as on target."
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20, description="Tags.")


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Create epic {name}",
    examples=("create an epic for the billing revamp", "start an epic 'Mobile app launch'"),
)
async def create_epic(ctx: ToolContext, args: CreateEpicArgs) -> EpicResult:
    """Create an epic: a large goal that groups tasks across sprints. Add tasks to it with
    create_task or update_task (epic_id)."""
    repo = EpicRepository(ctx.session, ctx.scope)
    order = await _next_sort_order(ctx, repo.select())
    epic = await repo.create(**args.model_dump(), sort_order=order)
    await record_change(ctx, "create", "todo_hq_epic", epic.id,
                        after=snapshot(epic, EPIC_FIELDS))
    return EpicResult(epic=await _epic_out(ctx, epic))


class SprintOut(BaseModel):
    id: uuid.UUID
    name: str
    status: SprintStatus
    description: str | None
    start_date: date | None
    end_date: date | None
    goals: list[str]
    progress: ProgressOut


class SprintResult(BaseModel):
    sprint: SprintOut


async def _sprint_out(ctx: ToolContext, sprint: TodoHqSprint) -> SprintOut:
    progress = await SprintRepository(ctx.session, ctx.scope).progress(sprint.id)
    return SprintOut(id=sprint.id, name=sprint.name, status=sprint.status,
                     description=sprint.description, start_date=sprint.start_date,
                     end_date=sprint.end_date, goals=list(sprint.goals),
                     progress=ProgressOut.of(progress))


class CreateSprintArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, max_length=200, description="Sprint name, e.g. 'Sprint 16'.")
    start_date: date | None = Field(default=None, description="First day, YYYY-MM-DD.")
    end_date: date | None = Field(default=None, description="Last day, YYYY-MM-DD.")
    description: str | None = Field(default=None, max_length=10_000, description="Its focus.")
    goals: list[Goal] = Field(default_factory=list, max_length=20, description="Sprint goals.")
    status: SprintStatus = Field(
        default=SprintStatus.PLANNED, description="planned or in_progress for a new sprint."
    )

    @model_validator(mode="after")
    def _valid(self) -> CreateSprintArgs:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValueError("end_date is before start_date")
        if self.status in CLOSED_SPRINTS:
            raise ValueError("a new sprint is planned or in_progress")
        return self


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Create sprint {name}",
    examples=("create Sprint 16 from June 2 to June 13", "plan a sprint for next week"),
)
async def create_sprint(ctx: ToolContext, args: CreateSprintArgs) -> SprintResult:
    """Create a sprint: a time box (start and end date) with goals that tasks are planned into
    (add_task_to_sprint). New sprints go last on the board."""
    repo = SprintRepository(ctx.session, ctx.scope)
    order = await _next_sort_order(ctx, repo.select())
    sprint = await repo.create(**args.model_dump(), sort_order=order)
    await record_change(ctx, "create", "todo_hq_sprint", sprint.id,
                        after=snapshot(sprint, SPRINT_FIELDS))
    return SprintResult(sprint=await _sprint_out(ctx, sprint))


class AddToSprintArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: uuid.UUID = Field(description="The task, from list_tasks.")
    sprint_id: uuid.UUID = Field(description="An open sprint, from list_sprints.")


class AddToSprintResult(BaseModel):
    task: TaskOut
    sprint: SprintOut


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Add task {task_id} to sprint {sprint_id}",
    examples=("put the deck task in the current sprint", "move the login bug into Sprint 16"),
)
async def add_task_to_sprint(ctx: ToolContext, args: AddToSprintArgs) -> AddToSprintResult:
    """Plan a task into a sprint that is planned or in progress (moving it out of any other
    sprint). Completed or cancelled sprints are refused."""
    repo = TaskRepository(ctx.session, ctx.scope)
    task = await repo.get(args.task_id)
    sprint = await _open_sprint(ctx, args.sprint_id)
    if task.sprint_id != sprint.id:
        before = snapshot(task, TASK_FIELDS)
        task = await repo.update(task.id, sprint_id=sprint.id)
        await record_change(ctx, "update", "todo_hq_task", task.id, before=before,
                            after=snapshot(task, TASK_FIELDS))
    names = await user_names(ctx, [task.assignee_id])
    return AddToSprintResult(task=TaskOut.of(task, names), sprint=await _sprint_out(ctx, sprint))


class ListSprintsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: SprintStatus | None = Field(default=None, description="Only this status.")
    limit: int = Field(default=10, ge=1, le=50, description="Most sprints to return (1-50).")


class SprintsResult(BaseModel):
    sprints: list[SprintOut] = Field(description="Latest on the board first.")
    total: int


@tool(risk=Risk.LOW, examples=("how is the current sprint going?", "list our sprints"))
async def list_sprints(ctx: ToolContext, args: ListSprintsArgs) -> SprintsResult:
    """List sprints, latest first, each with task progress (counts by status, percent done)."""
    stmt = SprintRepository(ctx.session, ctx.scope).select()
    if args.status is not None:
        stmt = stmt.where(TodoHqSprint.status == args.status)
    rows = await ctx.session.scalars(
        stmt.order_by(TodoHqSprint.sort_order.desc(), TodoHqSprint.created_at.desc())
        .limit(args.limit))
    return SprintsResult(sprints=[await _sprint_out(ctx, s) for s in rows],
                         total=await count_rows(ctx, stmt))


class ListEpicsArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    status: EpicStatus | None = Field(default=None, description="Only this status.")
    limit: int = Field(default=20, ge=1, le=50, description="Most epics to return (1-50).")


class EpicsResult(BaseModel):
    epics: list[EpicOut] = Field(description="In board order.")
    total: int


@tool(risk=Risk.LOW, examples=("list the epics", "how far along is the billing revamp epic?"))
async def list_epics(ctx: ToolContext, args: ListEpicsArgs) -> EpicsResult:
    """List epics in board order, each with task progress against its completion target."""
    stmt = EpicRepository(ctx.session, ctx.scope).select()
    if args.status is not None:
        stmt = stmt.where(TodoHqEpic.status == args.status)
    rows = await ctx.session.scalars(
        stmt.order_by(TodoHqEpic.sort_order, TodoHqEpic.created_at).limit(args.limit))
    return EpicsResult(epics=[await _epic_out(ctx, e) for e in rows],
                       total=await count_rows(ctx, stmt))
