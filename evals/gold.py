"""The expected final state of a case: its gold actions applied to a fresh clone.

Gold actions are tool calls executed directly, as the case's member, with approvals granted
(the approval policy is the runtime's business; the tools themselves are what change the
workspace). An argument may be `{lookup: ...}` (a record of the workspace) or `{ref: "0.id"}`
(a field of an earlier gold action's result). A gold action that fails means the case is wrong,
and every trial of it reports that instead of a verdict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from evals.fixtures import Clone, FixtureServer, Member, insert_rows, member_for, resolve
from evals.matchers import parse_date
from evals.schema import Case, GoldAction
from evals.statediff import Row, Window, canonical, known_ids, snapshot
from store.demo import DEMO_WORKSPACES, demo_user_id
from store.tenancy import scoped_session
from tools.context import ToolContext
from tools.errors import ToolError
from tools.invoke import invoke
from tools.registry import ToolRegistry


class GoldError(Exception):
    """A gold action could not be applied: the case, not the model, needs fixing."""


@dataclass(frozen=True)
class Baseline:
    """What a clone held before the trial touched it, for canonicalising its snapshot."""

    ids: set[str]
    started: datetime


def member_ids() -> set[str]:
    return {str(demo_user_id(s.slug, first)) for s in DEMO_WORKSPACES for first, _, _ in s.people}


async def prepare_clone(clone: Clone, case: Case, member: Member) -> Baseline:
    """Insert the case's extra rows and note what exists before the trial."""
    await insert_rows(clone.database, member, case.id, case.fixture.extra_rows)
    async with scoped_session(clone.database.sessions, member.scope) as session:
        before = await snapshot(session)
    return Baseline(known_ids(before, member_ids()), datetime.now(UTC))


async def final_state(clone: Clone, member: Member, baseline: Baseline,
                      ignore: Mapping[str, list[str]]) -> dict[str, list[Row]]:
    async with scoped_session(clone.database.sessions, member.scope) as session:
        after = await snapshot(session)
    window = Window(baseline.started, datetime.now(UTC))
    return canonical(after, baseline.ids, window, ignore)


async def gold_state(server: FixtureServer, case: Case, registry: ToolRegistry,
                     services: Mapping[str, Any]) -> dict[str, list[Row]]:
    """The case's expected state, from a clone of its own (dropped afterwards)."""
    assert case.expect.state is not None
    member = member_for(case.fixture)
    clone = await server.clone(case.fixture.name, pool_size=2)
    try:
        baseline = await prepare_clone(clone, case, member)
        await apply(clone, member, case, case.expect.state.gold, registry, services)
        return await final_state(clone, member, baseline, case.expect.state.ignore_columns)
    finally:
        await server.drop(clone)


async def apply(clone: Clone, member: Member, case: Case, actions: Sequence[GoldAction],
                registry: ToolRegistry, services: Mapping[str, Any]) -> None:
    results: list[Any] = []
    for index, action in enumerate(actions):
        tool = registry.get(action.tool)
        if tool is None:
            raise GoldError(f"gold action {index}: no tool {action.tool!r}")
        async with scoped_session(clone.database.sessions, member.scope) as session:
            args = await resolve(session, with_refs(action.args, results), wrap=False)
            ctx = ToolContext(member.caller(), session, f"gold:{case.id}:{index}", None,
                              services)
            try:
                async with session.begin_nested():
                    result = await invoke(tool, ctx, args)
            except ToolError as error:
                raise GoldError(f"gold action {index} ({action.tool}) failed: {error}") from None
        results.append(result.model_dump(mode="json"))


def with_refs(value: Any, results: Sequence[Any]) -> Any:
    """`{ref: "0.contact.id"}` -> that field of gold result 0; `{date: "today+1"}` -> the
    ISO date (so a gold action can say "tomorrow" as the user did)."""
    if isinstance(value, Mapping):
        if set(value) == {"ref"}:
            return _follow(str(value["ref"]), results)
        if set(value) == {"date"}:
            day = parse_date(value["date"])
            if day is None:
                raise GoldError(f"not a date: {value['date']!r}")
            return day.isoformat()
        return {k: with_refs(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [with_refs(v, results) for v in value]
    return value


def _follow(path: str, results: Sequence[Any]) -> Any:
    first, *rest = path.split(".")
    node: Any = results[int(first)]
    for part in rest:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node
