"""One turn at a time per conversation, across processes: a PostgreSQL advisory lock.

The lock is session-level and held on a connection of its own, outside any transaction: the
turn commits its own short transactions while holding it, and no transaction stays open while
the model runs. A second message waits for the lock (queue policy) or is refused at once
(reject policy). Closing the connection releases the lock even if the process dies mid-turn.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine


class ConversationBusy(Exception):
    """Another turn is running on this conversation and the policy is to reject."""


def _key(workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> sa.ColumnElement[int]:
    return sa.func.hashtextextended(f"neptune.turn:{workspace_id}:{conversation_id}", 0)


@asynccontextmanager
async def conversation_lock(
    engine: AsyncEngine, workspace_id: uuid.UUID, conversation_id: uuid.UUID, *, wait: bool
) -> AsyncIterator[None]:
    key = _key(workspace_id, conversation_id)
    async with engine.connect() as conn:
        if wait:
            await conn.execute(sa.select(sa.func.pg_advisory_lock(key)))
        elif not await conn.scalar(sa.select(sa.func.pg_try_advisory_lock(key))):
            await conn.rollback()
            raise ConversationBusy(f"conversation {conversation_id} is answering another message")
        await conn.commit()
        try:
            yield
        finally:
            await conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))
            await conn.commit()
