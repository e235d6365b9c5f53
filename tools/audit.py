"""Every write a tool makes also lands in `audit_logs`, with the values before and after.

Tools call `record_change` in the same transaction as their write, so the audit row exists
exactly when the change does. That row also carries the call's idempotency key, which is how
`replayed` lets a retried or resumed call find its earlier effect instead of repeating it.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.models.admin import AuditLog
from store.repositories.admin import AuditLogRepository
from store.tenancy import WorkspaceScope
from tools.context import ToolContext


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, uuid.UUID | datetime | date | Decimal):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def snapshot(row: Any, fields: Sequence[str]) -> dict[str, Any]:
    """The named attributes of a row as JSON-ready values."""
    return {name: _plain(getattr(row, name)) for name in fields}


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """`{field: {"before": x, "after": y}}` for the fields that changed."""
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


async def record_change(
    ctx: ToolContext, action: str, entity_type: str, entity_id: uuid.UUID | str | None, *,
    before: Mapping[str, Any] | None = None, after: Mapping[str, Any] | None = None,
) -> None:
    """Append the audit row for a create (no `before`), update, or delete (no `after`)."""
    changes = diff(_plain(before or {}), _plain(after or {}))
    await AuditLogRepository(ctx.session, ctx.scope).append(
        action, entity_type, entity_id, user_id=ctx.caller.user_id, changes=changes,
        meta={"source": "neptune", "channel": ctx.caller.channel,
              "idempotency_key": ctx.idempotency_key},
    )


async def record_worker_change(
    session: AsyncSession, scope: WorkspaceScope, action: str, entity_type: str,
    entity_id: uuid.UUID, *, before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None, job: str,
) -> None:
    """The audit row for a change the worker made on its own (a scheduled send, a publish):
    no user acted, so `user_id` is empty and `meta.job` names what fired."""
    changes = diff(_plain(before or {}), _plain(after or {}))
    await AuditLogRepository(session, scope).append(
        action, entity_type, entity_id, user_id=None, changes=changes,
        meta={"source": "worker", "job": job},
    )


async def replayed(ctx: ToolContext, action: str, entity_type: str) -> uuid.UUID | None:
    """The entity an earlier attempt of this very call (same idempotency key) already changed.

    `record_change` commits the audit row with the write and stamps it with the call's
    idempotency key, so finding that row proves the effect happened: a retried or resumed call
    returns that entity instead of creating, sending or paying twice. None on a first attempt.
    """
    repo = AuditLogRepository(ctx.session, ctx.scope)
    stmt = (
        repo.select()
        .with_only_columns(AuditLog.entity_id)
        .where(
            AuditLog.action == action, AuditLog.entity_type == entity_type,
            AuditLog.meta["idempotency_key"].astext == ctx.idempotency_key,
        )
        .order_by(AuditLog.created_at)
        .limit(1)
    )
    found = await ctx.session.scalar(stmt)
    return uuid.UUID(found) if found else None
