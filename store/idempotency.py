"""Idempotent HTTP requests: the first request with a key claims it, a retry gets its answer.

`claim()` inserts the key with the request's hash in a transaction of its own, so a concurrent
retry sees it at once. The same key with a different request is a conflict, never a silent
re-run; a retry while the first request is still working is told to wait.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.models.neptune import HttpIdempotency
from store.tenancy import bound_workspace

MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Claim:
    """`fresh`: this request owns the key. Otherwise `row` is the earlier request's record."""

    id: uuid.UUID
    fresh: bool
    request_hash: str
    status_code: int | None = None
    response: dict[str, Any] | None = None

    @property
    def answered(self) -> bool:
        return self.status_code is not None


async def claim(session: AsyncSession, user_id: uuid.UUID, key: str,
                request_hash: str) -> Claim:
    workspace_id = bound_workspace(session)
    inserted = await session.scalar(
        pg_insert(HttpIdempotency)
        .values(id=uuid.uuid4(), workspace_id=workspace_id, user_id=user_id, key=key,
                request_hash=request_hash)
        .on_conflict_do_nothing(index_elements=["workspace_id", "user_id", "key"])
        .returning(HttpIdempotency.id))
    if inserted is not None:
        return Claim(inserted, True, request_hash)
    row = (await session.execute(
        sa.select(HttpIdempotency).where(HttpIdempotency.workspace_id == workspace_id,
                                         HttpIdempotency.user_id == user_id,
                                         HttpIdempotency.key == key))).scalar_one()
    return Claim(row.id, False, row.request_hash, row.status_code, row.response)


async def record(session: AsyncSession, claim_id: uuid.UUID, status_code: int,
                 response: dict[str, Any]) -> None:
    await session.execute(
        sa.update(HttpIdempotency)
        .where(HttpIdempotency.workspace_id == bound_workspace(session),
               HttpIdempotency.id == claim_id)
        .values(status_code=status_code, response=response, updated_at=sa.func.now()))


async def release(session: AsyncSession, claim_id: uuid.UUID) -> None:
    """Forget a claim whose request failed before it changed anything, so a retry may run."""
    await session.execute(
        sa.delete(HttpIdempotency).where(HttpIdempotency.workspace_id == bound_workspace(session),
                                         HttpIdempotency.id == claim_id))
