"""Background work that tools start and the worker finishes.

The database is the schedule. A tool that wants something done later writes it down in the
record itself (a campaign's `scheduled_at`, a grid run's `resume_at`, a knowledge chunk still
without an embedding from the current model); `neptune_due_work()` lists what is due across
workspaces, and the worker (`assistant/worker.py`) hands each due record to the handler for its
kind. A handler claims its record with a conditional update inside the record's own workspace, so
two workers that see the same due row act once.

A tool may also ask for prompt attention with `nudge`: it sends a PostgreSQL notification on the
tool's own transaction, which PostgreSQL delivers only if that transaction commits, so the worker
never wakes for a record it cannot see yet, and a rolled-back call wakes nobody. The worker then
looks for due work at once instead of at its next periodic sweep. A nudge carries no data and
may be lost (no worker listening); the record is what counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tools.context import ToolContext

NOTIFY_CHANNEL = "neptune_due"


@dataclass(frozen=True, slots=True)
class JobContext:
    """What a handler gets: sessions as the service role (bind a scope before use), the same
    services a tool call gets (sender, model, agent runner, embedder), and the worker's clock."""

    sessions: async_sessionmaker[AsyncSession]
    now: datetime
    services: Mapping[str, Any] = field(default_factory=dict)


# A handler for one kind of due work: (context, workspace id, record id). It must be safe to call
# twice for the same record (claim first), and raises only for errors worth a retry.
Handler = Callable[[JobContext, uuid.UUID, uuid.UUID], Awaitable[None]]


async def nudge(ctx: ToolContext, kind: str, record_id: uuid.UUID) -> None:
    """Wake the worker when this call's transaction commits (the record says what to do)."""
    await notify_due(ctx.session, kind, record_id)


async def notify_due(session: AsyncSession, kind: str, record_id: uuid.UUID) -> None:
    """`nudge` for code holding a session rather than a ToolContext (engines, handlers)."""
    await session.execute(sa.select(sa.func.pg_notify(NOTIFY_CHANNEL, f"{kind}:{record_id}")))
