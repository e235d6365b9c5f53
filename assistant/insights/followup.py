"""What a chat turn does after a step's tool calls, besides storing them: wake the insight sweep
when a trigger tool succeeded (`triggers`), and keep the user's searches as their recent
searches (`ai_user_preferences.recent_searches`, which the widget and REST show)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.insights.triggers import nudge_after, triggers_sweep
from assistant.tool_runner import CallOutcome
from store.repositories.ai import PreferencesRepository
from tools.context import Caller

SEARCH_PREFIX = "search_"
MAX_SEARCH_CHARS = 200


def searches(outcomes: Iterable[CallOutcome]) -> list[str]:
    """The queries of the successful search calls (`search_*` tools with a `query`), in order."""
    found = []
    for outcome in outcomes:
        if outcome.status != "success" or not outcome.call.name.startswith(SEARCH_PREFIX):
            continue
        arguments = outcome.call.decoded()
        query = arguments.get("query") if isinstance(arguments, dict) else None
        if isinstance(query, str) and query.strip():
            found.append(" ".join(query.split())[:MAX_SEARCH_CHARS])
    return found


def worth_a_session(outcomes: Sequence[CallOutcome]) -> bool:
    succeeded = [o.call.name for o in outcomes if o.status == "success"]
    return triggers_sweep(succeeded) or bool(searches(outcomes))


async def after_calls(
    session: AsyncSession, caller: Caller, outcomes: Sequence[CallOutcome]
) -> None:
    """Nudge the insight sweep and record the searches (newest first) for `caller`."""
    await nudge_after(session, caller.workspace_id,
                      [o.call.name for o in outcomes if o.status == "success"])
    repo = PreferencesRepository(session, caller.scope)
    for query in searches(outcomes):
        await repo.record_search(caller.user_id, query)
