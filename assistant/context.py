"""Building what the model reads: system prompt, page context, then history within a budget.

History is walked newest-first in *units*: an assistant message that called tools travels with
its tool results (a call is never separated from its result), every other message is a unit of
its own. Units are added while the token budget allows, using the count stored on each message
when it was written. Whatever does not fit is *overflow*: the runtime summarises it (and the
previous summary) into a stored summary row, which then stands in for those rows in the prompt;
the raw rows stay. When history overflows, only half the budget is kept raw, so the next turns
do not summarise again at every message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.tokens import count_message
from store.models.ai import AiMessage, MessageRole
from store.repositories.ai import MessageRepository
from store.tenancy import WorkspaceScope

HISTORY_ROWS = 400


class PageContext(BaseModel):
    """What the user is looking at, as the client reports it (untrusted; used only as a hint)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    page: str | None = Field(default=None, max_length=200)
    record_type: str | None = Field(default=None, max_length=64)
    record_id: str | None = Field(default=None, max_length=64)
    selection: str | None = Field(default=None, max_length=2000)

    def values(self) -> dict[str, str]:
        return {k: (getattr(self, k) or "none") for k in
                ("page", "record_type", "record_id", "selection")}


def model_message(row: AiMessage) -> dict[str, Any]:
    """A stored message as the chat-completions API expects it."""
    if row.role == MessageRole.TOOL:
        return {"role": "tool", "tool_call_id": row.tool_call_id, "content": row.content}
    if row.role == MessageRole.ASSISTANT:
        message: dict[str, Any] = {"role": "assistant", "content": row.content or None}
        if row.tool_calls:
            message["tool_calls"] = row.tool_calls
        return message
    if row.role == MessageRole.SUMMARY:
        return summary_message(row.content)
    return {"role": str(row.role), "content": row.content}


def summary_message(text: str) -> dict[str, Any]:
    return {"role": "system", "content": f"Summary of the earlier conversation:\n{text}"}


@dataclass
class Unit:
    rows: list[AiMessage]

    @property
    def tokens(self) -> int:
        return sum(r.token_count or count_message(model_message(r)) for r in self.rows)

    @property
    def last_seq(self) -> int:
        return self.rows[-1].seq

    def messages(self) -> list[dict[str, Any]]:
        return [model_message(r) for r in self.rows]


def units_of(rows: Iterable[AiMessage]) -> list[Unit]:
    """Group rows (oldest first) into units; tool results whose call is not in `rows` (cut off
    by the row limit) are dropped rather than sent without their call."""
    units: list[Unit] = []
    for row in rows:
        if row.role == MessageRole.SUMMARY:
            continue
        if row.role == MessageRole.TOOL:
            if units and _open_call(units[-1], row.tool_call_id):
                units[-1].rows.append(row)
            continue
        units.append(Unit([row]))
    return [u for u in units if _complete(u)]


def _open_call(unit: Unit, call_id: str | None) -> bool:
    calls = unit.rows[0].tool_calls or []
    return unit.rows[0].role == MessageRole.ASSISTANT and any(c.get("id") == call_id
                                                              for c in calls)


def _complete(unit: Unit) -> bool:
    """An assistant tool-call unit must hold a result for every call (a turn that was stopped
    mid-tools may have left some without one)."""
    calls = unit.rows[0].tool_calls or []
    answered = {r.tool_call_id for r in unit.rows[1:]}
    return all(c.get("id") in answered for c in calls)


@dataclass
class History:
    summary: AiMessage | None
    kept: list[Unit] = field(default_factory=list)
    overflow: list[Unit] = field(default_factory=list)

    def messages(self, summary_text: str | None = None) -> list[dict[str, Any]]:
        text = summary_text if summary_text is not None else (
            self.summary.content if self.summary else None)
        head = [summary_message(text)] if text else []
        return head + [m for unit in self.kept for m in unit.messages()]


def fit(units: Sequence[Unit], budget: int) -> tuple[list[Unit], list[Unit]]:
    """Newest units that fit in `budget` (kept, oldest first) and the older rest (overflow).
    On overflow only half the budget is kept, leaving room for the turns to come."""
    if sum(u.tokens for u in units) <= budget:
        return list(units), []
    kept: list[Unit] = []
    spent = 0
    for unit in reversed(units):
        if spent + unit.tokens > budget // 2:
            break
        kept.append(unit)
        spent += unit.tokens
    kept.reverse()
    return kept, list(units[: len(units) - len(kept)])


async def load_history(
    session: AsyncSession, scope: WorkspaceScope, conversation_id: uuid.UUID, budget: int,
    *, before_seq: int | None = None,
) -> History:
    """The stored conversation (before `before_seq`, i.e. without the message just written)
    after the latest summary, split into what fits and what needs summarising."""
    repo = MessageRepository(session, scope)
    summary = await repo.latest_summary(conversation_id)
    after = (summary.summary_of_until_seq or 0) if summary else 0
    rows = await repo.history(conversation_id, after_seq=after, before_seq=before_seq,
                              limit=HISTORY_ROWS)
    kept, overflow = fit(units_of(reversed(rows)), budget)
    return History(summary, kept, overflow)


def transcript(units: Iterable[Unit], previous_summary: str | None) -> str:
    """Plain text of the overflow for the summariser."""
    lines = [f"Earlier summary: {previous_summary}"] if previous_summary else []
    for unit in units:
        for row in unit.rows:
            if row.role == MessageRole.TOOL:
                lines.append(f"[tool result {row.tool_call_id}] {row.content}")
            elif row.tool_calls:
                calls = ", ".join(f"{c['function']['name']}({c['function']['arguments']})"
                                  for c in row.tool_calls)
                lines.append(f"assistant called: {calls}" + (f" — {row.content}"
                                                               if row.content else ""))
            else:
                lines.append(f"{row.role}: {row.content}")
    return "\n".join(lines)
