"""What every domain's demo seeder receives."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from store.tenancy import WorkspaceScope


@dataclass
class DemoContext:
    """A seeded, deterministic world for one workspace.

    `session` is bound to `scope` (one transaction for the whole seed). `rng` is the only source
    of randomness a seeder may use, so two runs produce the same data. `ids` collects the ids
    each seeder created, keyed by table name, for later seeders to reference
    (e.g. `ctx.ids["contacts"]`). `size` scales row counts: 1.0 for the demo, smaller in tests.
    """

    session: AsyncSession
    scope: WorkspaceScope
    rng: random.Random
    now: datetime
    user_ids: list[uuid.UUID]
    company_name: str
    size: float = 1.0
    ids: dict[str, list[uuid.UUID]] = field(default_factory=dict)

    def count(self, full: int, minimum: int = 2) -> int:
        return max(minimum, int(full * self.size))

    def user(self) -> uuid.UUID:
        return self.rng.choice(self.user_ids)

    def pick(self, table: str) -> uuid.UUID:
        return self.rng.choice(self.ids[table])

    def days_ago(self, low: int, high: int) -> datetime:
        return self.now - timedelta(
            days=self.rng.randint(low, high), minutes=self.rng.randint(0, 1439)
        )

    def day_offset(self, low: int, high: int) -> date:
        return (self.now + timedelta(days=self.rng.randint(low, high))).date()

    def remember(self, table: str, new_ids: list[uuid.UUID]) -> list[uuid.UUID]:
        self.ids.setdefault(table, []).extend(new_ids)
        return new_ids
