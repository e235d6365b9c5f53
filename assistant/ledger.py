"""The usage ledger: one row per model call attempt, failed ones included (they can cost)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from assistant.gateway import Attempt
from store.models.neptune import UsageStatus
from store.repositories.neptune import UsageLedgerRepository
from tools.context import Caller


def _status(attempt: Attempt) -> UsageStatus:
    if attempt.ok:
        return UsageStatus.SUCCESS
    return UsageStatus.TIMEOUT if attempt.timed_out else UsageStatus.ERROR


async def record_attempts(
    session: AsyncSession, caller: Caller, conversation_id: uuid.UUID | None,
    attempts: Sequence[Attempt], purpose: str,
) -> None:
    if not attempts:
        return
    await UsageLedgerRepository(session, caller.scope).create_many([
        {"user_id": caller.user_id, "conversation_id": conversation_id, "purpose": purpose,
         "model": a.target.model, "provider": a.target.provider,
         "prompt_tokens": a.usage.prompt_tokens, "completion_tokens": a.usage.completion_tokens,
         "cached_tokens": a.usage.cached_tokens,
         "cost_usd_micros": round(a.usage.cost_usd * 1_000_000), "latency_ms": a.latency_ms,
         "status": _status(a)}
        for a in attempts
    ])
