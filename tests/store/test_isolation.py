"""Tenant isolation, generated over every tenant table.

Two workspaces are seeded with the full demo (small size), so every tenant table has rows in
both. Then, for each table: the service role scoped to A sees none of B's rows, cannot insert,
update or delete B's rows, sees nothing at all without a scope; every composite foreign key
refuses a reference into B; and every repository treats B's ids exactly like missing ids.
"""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import store.repositories
from store.access_keys import AccessKeys
from store.crypto import Keyring, new_key_spec
from store.demo import DemoWorkspaceSpec, seed_workspace
from store.errors import NotFound
from store.idempotency import claim
from store.models import tenant_tables
from store.models.channels import DeliveryChannel, LinkProvider
from store.models.core import MemberRole, SubscriptionTier, WorkspaceMember
from store.provider_keys import ProviderKeys
from store.ratelimits import Limit, take
from store.repositories.admin import IntegrationRepository, OAuthTokenRepository
from store.repositories.base import PROTECTED_FIELDS, Repository, utcnow
from store.repositories.channels import DeliveryRepository, UserLinkRepository
from store.tenancy import WorkspaceScope, scoped_session

Sessions = async_sessionmaker[AsyncSession]
TABLES = tenant_tables()


@dataclass(frozen=True)
class Pair:
    a: WorkspaceScope
    b: WorkspaceScope
    b_rows: dict[str, dict[str, Any]]  # one row of B per table
    a_rows: dict[str, dict[str, Any]]


def spec(tag: str) -> DemoWorkspaceSpec:
    slug = f"iso-{tag}-{uuid.uuid4().hex[:8]}"
    return DemoWorkspaceSpec(
        slug=slug,
        name=f"Isolation {tag}",
        tier=SubscriptionTier.FREE,
        people=(("Ann", "A", MemberRole.OWNER), ("Ben", "B", MemberRole.MEMBER)),
        size=0.05,
        seed=3,
    )


async def one_row_per_table(sessions: Sessions, scope: WorkspaceScope) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    async with scoped_session(sessions, scope) as s:
        for table in TABLES:
            row = (
                (await s.execute(sa.select(table).order_by(table.c.id).limit(1))).mappings().first()
            )
            if row is not None:
                rows[table.name] = dict(row)
    return rows


async def add_secrets(sessions: Sessions, scope: WorkspaceScope) -> None:
    """Rows the demo cannot make: sealed ones (they need the deployment's master key) and those
    only requests write."""
    ring = Keyring.parse(new_key_spec("iso"))
    async with scoped_session(sessions, scope) as s:
        await ProviderKeys(s, scope, ring).add("openai", "sk-test-isolation-0001")
        integration = (await IntegrationRepository(s, scope).list(limit=1)).items[0]
        sealed = ring.encrypt_text("access", scope.workspace_id, "oauth:access")
        await OAuthTokenRepository(s, scope).store(integration.id, access_token_encrypted=sealed)
        member = await s.scalar(sa.select(WorkspaceMember.user_id).limit(1))
        assert member is not None
        await AccessKeys(s, scope).create(member, "isolation", ["read"])
        await claim(s, member, "isolation-key", "0" * 64)
        await take(s, "workspace", Limit(per_minute=60, burst=10), utcnow())
        # What the channels write as people use them (assistant/channels): a link and a
        # delivered webhook.
        await UserLinkRepository(s, scope).link(LinkProvider.PHONE, "+14155550100", member)
        await DeliveryRepository(s, scope).record(DeliveryChannel.SMS, "SM-isolation", {})


@pytest.fixture(scope="module")
async def pair(sessions: Sessions) -> Pair:
    spec_a, spec_b = spec("a"), spec("b")
    for each in (spec_a, spec_b):
        await seed_workspace(sessions, each)
        await add_secrets(sessions, WorkspaceScope(each.workspace_id))
    a, b = WorkspaceScope(spec_a.workspace_id), WorkspaceScope(spec_b.workspace_id)
    return Pair(a, b, await one_row_per_table(sessions, b), await one_row_per_table(sessions, a))


async def test_every_tenant_table_has_rows(pair: Pair) -> None:
    empty = sorted(t.name for t in TABLES if t.name not in pair.b_rows)
    assert empty == [], f"demo data (plus sealed secrets) leaves these tables empty: {empty}"


@pytest.fixture
async def in_a(sessions: Sessions, pair: Pair) -> AsyncIterator[AsyncSession]:
    async with sessions() as s, s.begin():
        await s.execute(
            sa.select(sa.func.set_config("neptune.workspace_id", str(pair.a.workspace_id), True))
        )
        yield s
        await s.rollback()


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
async def test_scope_a_sees_and_changes_nothing_of_b(
    table: sa.Table, in_a: AsyncSession, pair: Pair
) -> None:
    b = pair.b.workspace_id
    own = await in_a.scalar(sa.select(sa.func.count()).select_from(table))
    visible_b = await in_a.scalar(
        sa.select(sa.func.count()).select_from(table).where(table.c.workspace_id == b)
    )
    assert visible_b == 0 and own == await in_a.scalar(
        sa.select(sa.func.count())
        .select_from(table)
        .where(table.c.workspace_id == pair.a.workspace_id)
    )
    updated = await in_a.execute(
        sa.update(table).where(table.c.workspace_id == b).values(updated_at=sa.func.now())
    )
    deleted = await in_a.execute(sa.delete(table).where(table.c.workspace_id == b))
    assert updated.rowcount == 0 and deleted.rowcount == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
async def test_scope_a_cannot_insert_for_b(table: sa.Table, sessions: Sessions, pair: Pair) -> None:
    row = {**pair.b_rows[table.name], "id": uuid.uuid4()}
    row = {k: v for k, v in row.items() if not table.c[k].computed}
    with pytest.raises(sa_exc.DBAPIError, match="row-level security"):
        async with scoped_session(sessions, pair.a) as s:
            await s.execute(sa.insert(table).values(**row))
    with pytest.raises(sa_exc.DBAPIError, match="row-level security"):
        async with scoped_session(sessions, pair.a) as s:  # moving A's own row into B
            await s.execute(
                sa.update(table)
                .where(table.c.id == pair.a_rows[table.name]["id"])
                .values(workspace_id=pair.b.workspace_id)
            )


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
async def test_no_scope_sees_nothing(table: sa.Table, sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        assert await s.scalar(sa.select(sa.func.count()).select_from(table)) == 0


async def test_no_scope_sees_no_workspace(sessions: Sessions) -> None:
    async with sessions() as s, s.begin():
        assert await s.scalar(sa.text("SELECT count(*) FROM workspaces")) == 0


def composite_fks() -> list[tuple[sa.Table, sa.ForeignKeyConstraint]]:
    return [
        (t, fk)
        for t in TABLES
        for fk in t.foreign_key_constraints
        if len(fk.columns) == 2 and "workspace_id" in fk.column_keys
    ]


@pytest.mark.parametrize("table, fk", composite_fks(), ids=lambda x: getattr(x, "name", ""))
async def test_foreign_key_into_b_is_refused(
    table: sa.Table, fk: sa.ForeignKeyConstraint, sessions: Sessions, pair: Pair
) -> None:
    column = next(c for c in fk.column_keys if c != "workspace_id")
    target = pair.b_rows[fk.referred_table.name]["id"]
    mine = pair.a_rows[table.name]["id"]
    with pytest.raises(sa_exc.IntegrityError, match="foreign key"):
        async with scoped_session(sessions, pair.a) as s:
            await s.execute(sa.update(table).where(table.c.id == mine).values({column: target}))


def repositories() -> list[type[Repository[Any]]]:
    for info in pkgutil.iter_modules(store.repositories.__path__):
        importlib.import_module(f"store.repositories.{info.name}")
    found: list[type[Repository[Any]]] = []
    pending = list(Repository.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if "model" in cls.__dict__:
            found.append(cls)
    return sorted(found, key=lambda c: c.__name__)


def test_every_tenant_table_has_a_repository() -> None:
    covered = {cls.model.__tablename__ for cls in repositories()}
    assert sorted(t.name for t in TABLES if t.name not in covered) == []


@pytest.mark.parametrize("repo_cls", repositories(), ids=lambda c: c.__name__)
async def test_repository_treats_b_ids_as_missing(
    repo_cls: type[Repository[Any]], sessions: Sessions, pair: Pair
) -> None:
    table = repo_cls.model.__table__
    b_id = pair.b_rows[table.name]["id"]
    field = next(c.name for c in table.c if c.name not in PROTECTED_FIELDS)
    async with scoped_session(sessions, pair.a) as s:
        repo = repo_cls(s, pair.a)
        for call in (repo.get(b_id), repo.update(b_id, **{field: None}), repo.delete(b_id)):
            with pytest.raises(NotFound) as missing:
                await call
            with pytest.raises(NotFound) as absent:
                await repo.get(uuid.uuid4())
            assert type(missing.value) is type(absent.value)
            assert missing.value.entity == absent.value.entity
        assert await repo.find(b_id) is None and await repo.get_many([b_id]) == []
    assert await one_row_per_table(sessions, pair.b) == pair.b_rows  # B unchanged
