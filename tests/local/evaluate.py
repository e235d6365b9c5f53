"""Runs the labelled set through the offline model as the runtime would, in the demo workspace.

Each case is a short conversation: the user's message; a lookup the model asks for is really run
(the tool, in the seeded demo workspace, as its owner) and its result handed back; a question the
model asks is answered with the case's `followup`. The case then scores the first call that is
not a lookup: the tool (right or wrong) and the arguments (right when the call the tool would
receive equals the labelled one: both validated by the tool's argument model, defaults filled in,
text compared without case or surrounding space). The time of each `respond` is recorded: the
model's own time per turn, tools excluded.

Used by `benchmarks/offline_model.py` (prints the numbers) and `test_accuracy.py` (holds the floor).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from datetime import time as clock
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.local.model import LOOKUP_ID, LocalModel
from store.demo import DEMO_WORKSPACES, DemoWorkspaceSpec, demo_user_id
from store.models.base import Base
from store.models.core import MemberRole
from store.tenancy import WorkspaceScope, scoped_session
from tests.local.labelled import TODAY, Case, Ref
from tools.context import Caller, ToolContext
from tools.errors import ToolError
from tools.invoke import invoke
from tools.policy import available
from tools.registry import Tool, ToolRegistry

NOW = datetime.combine(TODAY, clock(10, 0), tzinfo=UTC)
MAX_STEPS = 4
SPEC = DEMO_WORKSPACES[0]

TABLE_OF_KIND = {
    "contact": "contacts", "deal": "deals", "customer": "customers", "project": "projects",
    "prospect": "prospects", "member": "users", "task": "todo_hq_tasks",
    "sprint": "todo_hq_sprints", "epic": "todo_hq_epics", "invoice": "invoices",
    "expense": "expenses", "campaign": "campaigns", "segment": "segments",
    "automation_rule": "automation_rules", "conversation": "conversations",
    "team_channel": "team_channels", "blog_post": "blog_posts", "topic_idea": "topic_ideas",
    "creator_item": "creator_items", "creator_collection": "creator_collections",
    "creator_template": "creator_templates", "agent": "agents",
    "agent_template": "agent_templates", "agent_schedule": "agent_schedules",
    "agent_execution": "agent_executions", "agent_team": "agent_teams",
    "workflow": "agent_workflows", "workflow_execution": "agent_workflow_executions",
    "grid": "galaxy_grids", "grid_execution": "grid_executions",
    "knowledge_item": "knowledge_items",
}
#: Foreign keys whose row's words also describe a record (a conversation by its contact, a run
#: by its agent).
DESCRIBING_KEYS = ("contact_id", "agent_id", "grid_id", "workflow_id", "customer_id")
WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if len(w) > 1 or w.isdigit()}


@dataclass
class Outcome:
    case: Case
    tool: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    expected: dict[str, Any] = field(default_factory=dict)
    tool_ok: bool = False
    args_ok: bool = False
    asked_ok: bool = True  # a case with `missing` must be asked for it first
    turns_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time, all threads
    transcript: list[str] = field(default_factory=list)
    problem: str = ""


class Resolver:
    """Names in the labelled set to the demo workspace's ids: the row whose words cover the
    most of the name (an execution kind means the latest run of the named agent, grid or
    workflow)."""

    def __init__(self, rows: Mapping[str, list[tuple[set[str], datetime | None, str]]]) -> None:
        self.rows = rows

    @classmethod
    async def load(cls, sessions: async_sessionmaker[AsyncSession],
                   workspace_id: uuid.UUID) -> Resolver:
        async with scoped_session(sessions, WorkspaceScope(workspace_id)) as session:
            labels = {kind: await _labelled_rows(session, table, workspace_id)
                      for kind, table in TABLE_OF_KIND.items()}
        return cls(labels)

    def __call__(self, ref: Ref) -> str:
        wanted = _words(ref.name)
        scored = [(len(wanted & label), when or datetime.min.replace(tzinfo=UTC), -len(label), id_)
                  for label, when, id_ in self.rows.get(ref.ref, ())]
        best = max(scored, default=None)
        if best is None or best[0] * 2 < len(wanted):
            raise LookupError(f"no {ref.ref} named {ref.name!r} in the demo workspace")
        return best[3]


async def _labelled_rows(session: AsyncSession, table_name: str, workspace_id: uuid.UUID,
                         ) -> list[tuple[set[str], datetime | None, str]]:
    table = Base.metadata.tables[table_name]
    query = sa.select(table)
    if table_name == "users":
        members = Base.metadata.tables["workspace_members"]
        query = query.join(members, members.c.user_id == table.c.id).where(
            members.c.workspace_id == workspace_id)
    elif "workspace_id" in table.c:
        query = query.where(table.c.workspace_id == workspace_id)
    rows = [dict(r) for r in (await session.execute(query)).mappings()]
    described = await _describing_words(session, rows)
    return [(_row_words(row).union(*(described.get(str(row.get(k)), set())
                                     for k in DESCRIBING_KEYS)),
             row.get("created_at") or row.get("started_at"), str(row["id"])) for row in rows]


async def _describing_words(session: AsyncSession,
                            rows: Sequence[Mapping[str, Any]]) -> dict[str, set[str]]:
    tables = {"contact_id": "contacts", "agent_id": "agents", "grid_id": "galaxy_grids",
              "workflow_id": "agent_workflows", "customer_id": "customers"}
    found: dict[str, set[str]] = {}
    for key, table_name in tables.items():
        ids = {row[key] for row in rows if row.get(key) is not None}
        if not ids:
            continue
        table = Base.metadata.tables[table_name]
        result = await session.execute(sa.select(table).where(table.c.id.in_(ids)))
        found.update({str(r["id"]): _row_words(r) for r in result.mappings()})
    return found


def _row_words(row: Mapping[str, Any]) -> set[str]:
    return _words(" ".join(str(v) for k, v in row.items()
                           if isinstance(v, str) and not k.endswith("id")))


# -- running a case -----------------------------------------------------------------------
class Evaluator:
    def __init__(self, model: LocalModel, registry: ToolRegistry,
                 sessions: async_sessionmaker[AsyncSession], resolver: Resolver,
                 spec: DemoWorkspaceSpec = SPEC) -> None:
        self.model = model
        self.registry = registry
        self.sessions = sessions
        self.resolver = resolver
        self.caller = Caller.for_member(spec.workspace_id, demo_user_id(spec.slug, "Dana"),
                                        MemberRole.OWNER)
        self.offered = [t.name for t in available(registry, self.caller, {})]

    async def run(self, cases: Iterable[Case]) -> list[Outcome]:
        return [await self.run_case(case) for case in cases]

    async def run_case(self, case: Case) -> Outcome:
        outcome = Outcome(case)
        try:
            outcome.expected = case.resolved_args(self.resolver)
        except LookupError as error:
            outcome.problem = str(error)
            return outcome
        messages: list[dict[str, Any]] = [{"role": "user", "content": case.text}]
        answered = False
        for _ in range(MAX_STEPS):
            reply = self._respond(messages, outcome)
            actions = [c for c in reply.calls if not LOOKUP_ID.match(c[0])]
            if actions:
                _, name, args = actions[0]
                self._score(outcome, name, args, asked_first=answered or not case.missing)
                return outcome
            if reply.calls:
                messages += await self._lookups(reply.calls, outcome)
                continue
            if case.followup and not answered:
                answered = True
                messages += [{"role": "assistant", "content": reply.text},
                             {"role": "user", "content": case.followup}]
                continue
            break
        outcome.problem = outcome.problem or "no call"
        return outcome

    def _respond(self, messages: list[dict[str, Any]], outcome: Outcome) -> Any:
        started, cpu = time.perf_counter(), time.process_time()
        reply = self.model.respond(messages, self.offered, NOW)
        outcome.turns_ms.append((time.perf_counter() - started) * 1000)
        outcome.cpu_ms.append((time.process_time() - cpu) * 1000)
        said = " ".join(f"{name}({json.dumps(args, default=str)})" for _, name, args in reply.calls)
        outcome.transcript.append(said or reply.text)
        return reply

    async def _lookups(self, calls: Sequence[tuple[str, str, dict[str, Any]]],
                       outcome: Outcome) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "assistant", "content": "", "tool_calls": [
            {"id": cid, "type": "function",
             "function": {"name": name, "arguments": json.dumps(args)}}
            for cid, name, args in calls]}]
        for cid, name, args in calls:
            payload = await self._execute(name, args)
            outcome.transcript.append(f"-> {json.dumps(payload, default=str)[:300]}")
            messages.append({"role": "tool", "tool_call_id": cid,
                             "content": json.dumps(payload, default=str)})
        return messages

    async def _execute(self, name: str, args: Mapping[str, Any]) -> dict[str, Any]:
        tool = self.registry.get(name)
        if tool is None:
            return {"ok": False, "error": f"unknown tool {name}"}
        async with scoped_session(self.sessions, self.caller.scope) as session:
            ctx = ToolContext(self.caller, session, idempotency_key=uuid.uuid4().hex)
            try:
                result = await invoke(tool, ctx, dict(args))
            except ToolError as error:
                return {"ok": False, "error": str(error)}
            finally:
                await session.rollback()
        return {"ok": True, "result": result.model_dump(mode="json")}

    def _score(self, outcome: Outcome, name: str, args: dict[str, Any], *,
               asked_first: bool) -> None:
        outcome.tool, outcome.args, outcome.asked_ok = name, args, asked_first
        outcome.tool_ok = name == outcome.case.tool
        tool = self.registry.get(name)
        if outcome.tool_ok and tool is not None:
            outcome.args_ok = asked_first and same_call(tool, args, outcome.expected)


def same_call(tool: Tool, got: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    """Whether the tool would receive the same arguments (defaults filled, text loosely)."""
    try:
        mine = tool.args_model.model_validate(dict(got)).model_dump(mode="json")
    except ValueError:
        return False
    theirs = tool.args_model.model_validate(dict(expected)).model_dump(mode="json")
    return _loose(mine) == _loose(theirs)


def _loose(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.lower().split()).rstrip(".")
    if isinstance(value, dict):
        return {k: _loose(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_loose(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Summary:
    cases: int
    tool_accuracy: float
    args_accuracy: float
    asked: tuple[int, int]  # (asked correctly, cases with a missing field)
    p50_ms: float
    p95_ms: float
    max_ms: float
    cpu_p50_ms: float = 0.0
    cpu_p95_ms: float = 0.0


def summarise(outcomes: Sequence[Outcome]) -> Summary:
    times = sorted(t for o in outcomes for t in o.turns_ms) or [0.0]
    cpu = sorted(t for o in outcomes for t in o.cpu_ms) or [0.0]
    missing = [o for o in outcomes if o.case.missing]
    n = max(1, len(outcomes))
    return Summary(
        cases=len(outcomes),
        tool_accuracy=sum(o.tool_ok for o in outcomes) / n,
        args_accuracy=sum(o.args_ok for o in outcomes) / n,
        asked=(sum(o.tool_ok and o.asked_ok for o in missing), len(missing)),
        p50_ms=times[len(times) // 2],
        p95_ms=times[min(len(times) - 1, int(0.95 * len(times)))],
        max_ms=times[-1],
        cpu_p50_ms=cpu[len(cpu) // 2],
        cpu_p95_ms=cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))],
    )
