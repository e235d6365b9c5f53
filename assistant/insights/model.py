"""What a detector returns, and what it gets to look at.

A `Finding` is one situation a detector noticed. Its `key` names the situation within the
detector (usually the record id), so the stored insight's fingerprint is `detector:key` and a
second sweep refreshes it instead of adding another. Its `state` is the *material* state, the
facts whose change should bring back an insight the user dismissed (a deal's stage and amount
bucket, not how many days it has been stalled); the stored `data_hash` is the hash of `state`.
Suggested actions are tool calls (name + arguments valid for that tool) the user can run in one
click through `act_on_insight`, which applies the normal approval policy.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from store.models.ai import InsightType
from store.models.base import JSON
from store.models.core import Workspace
from store.tenancy import WorkspaceScope

DEFAULT_LIFETIME = timedelta(days=7)
BudgetOf = Callable[[Workspace], int]


@dataclass(frozen=True)
class Suggested:
    """A tool call offered with an insight: what `act_on_insight` runs when chosen."""

    tool: str
    arguments: JSON
    label: str

    def as_json(self) -> JSON:
        return {"tool": self.tool, "arguments": self.arguments, "label": self.label}


@dataclass(frozen=True)
class Finding:
    key: str
    type: InsightType
    priority: int
    title: str
    description: str
    state: JSON
    data: JSON = field(default_factory=dict)
    record_type: str | None = None
    record_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None
    lifetime: timedelta = DEFAULT_LIFETIME
    expires_at: datetime | None = None
    actions: tuple[Suggested, ...] = ()

    def expiry(self, now: datetime) -> datetime:
        return self.expires_at or now + self.lifetime


@dataclass(frozen=True)
class DetectorContext:
    """One workspace's data as of `now` (the worker's clock), read through `session`, which is
    bound to the workspace. `budget_of` gives a workspace's daily token budget."""

    session: AsyncSession
    scope: WorkspaceScope
    now: datetime
    budget_of: BudgetOf | None = None

    @property
    def today(self) -> date:
        return self.now.astimezone(UTC).date()

    def ago(self, **delta: float) -> datetime:
        return self.now - timedelta(**delta)

    def end_of_day(self) -> datetime:
        return datetime.combine(self.today + timedelta(days=1), time(), tzinfo=UTC)


def amount_bucket(cents: int) -> int:
    """A coarse size class for an amount (doubling steps of major units): a change within the
    class is not material, moving to another one is."""
    return int(math.log2(max(cents, 100) / 100))


def money(cents: int, currency: str) -> str:
    return f"{currency} {cents / 100:,.2f}"


def clamp_priority(value: float) -> int:
    return max(0, min(100, round(value)))


def as_text(value: Any) -> str:
    return str(value) if value is not None else ""
