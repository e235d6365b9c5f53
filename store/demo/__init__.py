"""Deterministic demo data: a demo workspace with every domain filled, and a second, smaller one
so that isolation is visible. Loading is idempotent: workspaces that exist are left alone.

Everything is written through the repositories as the service role, so the demo exercises the
same tenancy path as the service.
"""

from __future__ import annotations

import importlib
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo.context import DemoContext
from store.models.core import MemberRole, SubscriptionTier, User, Workspace, WorkspaceMember
from store.tenancy import WorkspaceScope, scoped_session

DOMAIN_ORDER = [
    "crm",
    "agents",
    "orchestration",
    "finance",
    "marketing",
    "communications",
    "ai",
    "knowledge",
    "content",
    "creator",
    "grids",
    "admin",
]
DEMO_NAMESPACE = uuid.UUID("6f1c7a52-3f9e-4d0b-9a57-4c1e2b8d9f10")


@dataclass(frozen=True)
class DemoWorkspaceSpec:
    slug: str
    name: str
    tier: SubscriptionTier
    people: tuple[tuple[str, str, MemberRole], ...]
    size: float
    seed: int

    @property
    def workspace_id(self) -> uuid.UUID:
        return uuid.uuid5(DEMO_NAMESPACE, f"workspace:{self.slug}")


DEMO_WORKSPACES = (
    DemoWorkspaceSpec(
        slug="acme-demo",
        name="Acme Robotics",
        tier=SubscriptionTier.PROFESSIONAL,
        people=(
            ("Dana", "Reyes", MemberRole.OWNER),
            ("Sam", "Okoro", MemberRole.ADMIN),
            ("Lee", "Park", MemberRole.MEMBER),
            ("Vic", "Moreau", MemberRole.VIEWER),
        ),
        size=1.0,
        seed=7,
    ),
    DemoWorkspaceSpec(
        slug="globex-demo",
        name="Globex Partners",
        tier=SubscriptionTier.STARTER,
        people=(("Hank", "Scorpio", MemberRole.OWNER), ("Mindy", "Simmons", MemberRole.MEMBER)),
        size=0.2,
        seed=11,
    ),
)


@dataclass(frozen=True)
class DemoResult:
    slug: str
    workspace_id: uuid.UUID
    created: bool
    users: dict[str, uuid.UUID]


def demo_user_id(slug: str, first: str) -> uuid.UUID:
    return uuid.uuid5(DEMO_NAMESPACE, f"user:{slug}:{first.lower()}")


async def _create_people(session: AsyncSession, spec: DemoWorkspaceSpec) -> dict[str, uuid.UUID]:
    users: dict[str, uuid.UUID] = {}
    domain = spec.slug.split("-")[0] + ".example"
    for first, last, role in spec.people:
        user_id = demo_user_id(spec.slug, first)
        if await session.get(User, user_id) is None:
            session.add(
                User(
                    id=user_id,
                    email=f"{first.lower()}@{domain}",
                    first_name=first,
                    last_name=last,
                    clerk_user_id=f"demo_{spec.slug}_{first.lower()}",
                )
            )
            await session.flush()
        session.add(WorkspaceMember(workspace_id=spec.workspace_id, user_id=user_id, role=role))
        users[f"{first} {last}"] = user_id
    await session.flush()
    return users


async def seed_workspace(
    sessions: async_sessionmaker[AsyncSession],
    spec: DemoWorkspaceSpec,
    *,
    domains: list[str] | None = None,
    now: datetime | None = None,
) -> DemoResult:
    scope = WorkspaceScope(spec.workspace_id)
    async with scoped_session(sessions, scope) as session:
        if await session.get(Workspace, spec.workspace_id) is not None:
            users = {f"{f} {last}": demo_user_id(spec.slug, f) for f, last, _ in spec.people}
            return DemoResult(spec.slug, spec.workspace_id, False, users)
        session.add(
            Workspace(
                id=spec.workspace_id, name=spec.name, slug=spec.slug, subscription_tier=spec.tier
            )
        )
        await session.flush()
        users = await _create_people(session, spec)
        ctx = DemoContext(
            session=session,
            scope=scope,
            rng=random.Random(spec.seed),
            now=now or datetime.now(UTC),
            user_ids=list(users.values()),
            company_name=spec.name,
            size=spec.size,
        )
        for domain in domains or DOMAIN_ORDER:
            module = importlib.import_module(f"store.demo.{domain}")
            await module.seed(ctx)
    return DemoResult(spec.slug, spec.workspace_id, True, users)


async def load_demo(
    sessions: async_sessionmaker[AsyncSession], *, now: datetime | None = None
) -> list[DemoResult]:
    return [await seed_workspace(sessions, spec, now=now) for spec in DEMO_WORKSPACES]
