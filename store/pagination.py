"""Keyset pagination: opaque cursors over (sort value, id)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

from store.errors import InvalidArgument

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def encode_cursor(value: Any, row_id: UUID) -> str:
    if isinstance(value, datetime | date):
        payload = {"t": "dt" if isinstance(value, datetime) else "d", "v": value.isoformat()}
    elif isinstance(value, UUID):
        payload = {"t": "u", "v": str(value)}
    else:
        payload = {"t": "j", "v": value}
    payload["id"] = str(row_id)
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[Any, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw)
        kind, value = payload["t"], payload["v"]
        row_id = UUID(payload["id"])
        if kind == "dt":
            return datetime.fromisoformat(value), row_id
        if kind == "d":
            return date.fromisoformat(value), row_id
        if kind == "u":
            return UUID(value), row_id
        return value, row_id
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidArgument(f"invalid cursor: {cursor!r}") from exc


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}")
    return limit
