"""Fresh workspaces for trials: seed a fixture once into a template database, then clone it.

`CREATE DATABASE trial TEMPLATE fixture` (PostgreSQL's WAL_LOG strategy) copies the migrated,
seeded demo database in about 50 ms here, against about 4 s to migrate and seed one; every
trial, and every gold run, gets a clone of its own and drops it afterwards. The template's name
carries a hash of the migrations, the demo seeders and the seeding day, so a template is reused
by later runs on the same server until any of those change (the demo is seeded "as of" midnight
UTC, which keeps its data identical for the whole day).

A case's extra rows are inserted after the clone, through the service role in the workspace's
scope (so row-level security applies), with deterministic ids when the case gives none: the
agent's clone and the gold clone then agree on every id that the trial did not create.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

import store.demo
import store.migrations
from evals.schema import ExtraRow, Fixture
from store.bootstrap import DatabaseUrls, connect
from store.config import OWNER_ROLE
from store.db import Database
from store.demo import DEMO_WORKSPACES, DemoWorkspaceSpec, demo_user_id, seed_workspace
from store.migrations import upgrade
from store.models.base import Base
from store.models.core import MemberRole
from store.tenancy import WorkspaceScope, bound_workspace, scoped_session
from tools.context import Caller

TEMPLATE_PREFIX = "neptune_eval_tpl_"
ROW_NAMESPACE = uuid.UUID("0b8f6c1e-7d0a-4c55-9a1e-5f2f3c6d7e80")
_clones = itertools.count(1)


@dataclass(frozen=True)
class Member:
    """Who a case acts as: a demo member of the case's workspace."""

    spec: DemoWorkspaceSpec
    user_id: uuid.UUID
    role: MemberRole

    def caller(self, channel: str = "api") -> Caller:
        return Caller.for_member(self.spec.workspace_id, self.user_id, self.role, channel=channel)

    @property
    def scope(self) -> WorkspaceScope:
        return WorkspaceScope(self.spec.workspace_id)


def member_for(fixture: Fixture) -> Member:
    spec = next((s for s in DEMO_WORKSPACES if s.slug == fixture.workspace), None)
    if spec is None:
        raise ValueError(f"no demo workspace {fixture.workspace!r}")
    wanted = fixture.user
    for first, _last, role in spec.people:
        if (wanted is None and role == MemberRole.OWNER) or first == wanted:
            return Member(spec, demo_user_id(spec.slug, first), role)
    raise ValueError(f"{fixture.workspace} has no member {wanted!r}")


def fixture_stamp() -> str:
    """What the template's contents depend on: migrations, seeders, the seeding day."""
    digest = hashlib.sha256(datetime.now(UTC).date().isoformat().encode())
    for package in (store.migrations, store.demo):
        root = Path(package.__file__ or "").parent
        for path in sorted(root.rglob("*.py")):
            digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:10]


def _orphan_clone(name: str) -> bool:
    """A clone (`neptune_eval_<pid>_<n>`) whose process is gone."""
    parts = name.split("_")
    if len(parts) != 4 or not parts[2].isdigit():
        return False
    try:
        os.kill(int(parts[2]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


@dataclass
class Clone:
    """One trial's database: its name and the service role's connection to it."""

    name: str
    database: Database


class FixtureServer:
    """Creates fixture templates and trial clones on the server that holds `urls`."""

    def __init__(self, urls: DatabaseUrls) -> None:
        self.urls = urls
        self.admin_url: URL = (urls.server.url("postgres", "postgres") if urls.server
                               else urls.owner)
        self._templates: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self.prefix = f"neptune_eval_{os.getpid()}_"
        self.seconds_seeding = 0.0

    async def _admin(self) -> asyncpg.Connection:
        return await connect(self.admin_url.set(database="postgres") if self.urls.server
                             else self.admin_url)

    async def template(self, name: str = "demo") -> str:
        """The template database of fixture `name`, created and seeded on first use."""
        async with self._lock:
            if name not in self._templates:
                self._templates[name] = await self._ensure_template(name)
            return self._templates[name]

    async def _ensure_template(self, name: str) -> str:
        db_name = f"{TEMPLATE_PREFIX}{name}_{fixture_stamp()}"
        admin = await self._admin()
        try:
            # One builder per server: a second run waits, then finds the template made.
            await admin.execute("SELECT pg_advisory_lock(hashtext($1))", TEMPLATE_PREFIX)
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db_name)
            if not exists:
                await self._prune(admin, f"{TEMPLATE_PREFIX}{name}_")
                await self._build_template(admin, db_name)
        finally:
            await admin.close()
        return db_name

    async def _prune(self, admin: asyncpg.Connection, stale_prefix: str) -> None:
        """Drop this fixture's outdated templates and, on the embedded server (local
        processes only), the clones of eval runs that died before dropping them."""
        names = [r[0] for r in await admin.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE 'neptune\\_eval\\_%'")]
        for db in names:
            if db.startswith(stale_prefix) or (self.urls.server and _orphan_clone(db)):
                await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    async def _build_template(self, admin: asyncpg.Connection, db_name: str) -> None:
        started = asyncio.get_running_loop().time()
        building = f"{db_name}_building"
        await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{building}" OWNER {OWNER_ROLE}')
        ext = await connect(self.admin_url.set(database=building))
        try:
            await ext.execute("CREATE EXTENSION IF NOT EXISTS vector")
        finally:
            await ext.close()
        await upgrade(self.urls.owner.set(database=building))
        database = Database.connect(self.urls.app.set(database=building), pool_size=2)
        try:
            as_of = seeded_at()
            for spec in DEMO_WORKSPACES:
                await seed_workspace(database.sessions, spec, now=as_of)
        finally:
            await database.close()
        # Renamed only once complete, so a crash never leaves a half-seeded template in use.
        await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{db_name}"')
        self.seconds_seeding = asyncio.get_running_loop().time() - started

    async def clone(self, fixture: str = "demo", *, pool_size: int = 4) -> Clone:
        template = await self.template(fixture)
        name = f"{self.prefix}{next(_clones)}"
        admin = await self._admin()
        try:
            await admin.execute(
                f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {OWNER_ROLE} '
                "STRATEGY WAL_LOG")
        finally:
            await admin.close()
        return Clone(name, Database.connect(self.urls.app.set(database=name),
                                            pool_size=pool_size))

    async def drop(self, clone: Clone) -> None:
        await clone.database.close()
        admin = await self._admin()
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{clone.name}" WITH (FORCE)')
        finally:
            await admin.close()


# -- extra rows and lookups -------------------------------------------------------------------
async def insert_rows(database: Database, member: Member, case_id: str,
                      rows: list[ExtraRow]) -> None:
    """The case's extra rows, in order (a later row may look up an earlier one), each in
    its workspace's scope (row-level security applies)."""
    for index, row in enumerate(rows):
        scope = workspace_scope(row.workspace) if row.workspace else member.scope
        async with scoped_session(database.sessions, scope) as session:
            table = domain_table(row.table)
            values = await resolve(session, dict(row.values), wrap=False)
            values.setdefault("id", uuid.uuid5(ROW_NAMESPACE, f"{case_id}:{index}"))
            values["workspace_id"] = scope.workspace_id
            for column in _defaulted_times(table):
                values.setdefault(column, seeded_at())
            await session.execute(table.insert().values(**_typed(table, values)))


def seeded_at() -> datetime:
    """The moment the demo is seeded "as of" (midnight UTC today)."""
    return datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)


def _defaulted_times(table: sa.Table) -> list[str]:
    """Timestamp columns the database would fill with now(): an extra row gets the seeding
    moment instead, so the agent's clone and the gold clone hold the same row."""
    return [c.name for c in table.c if isinstance(c.type, sa.DateTime)
            and (c.server_default is not None or c.default is not None)]


def workspace_scope(slug: str) -> WorkspaceScope:
    spec = next((s for s in DEMO_WORKSPACES if s.slug == slug), None)
    if spec is None:
        raise ValueError(f"no demo workspace {slug!r}")
    return WorkspaceScope(spec.workspace_id)


def domain_table(name: str) -> sa.Table:
    table = Base.metadata.tables.get(name)
    if table is None or "workspace_id" not in table.c:
        raise ValueError(f"{name!r} is not a workspace table")
    return table


def _typed(table: sa.Table, values: Mapping[str, Any]) -> dict[str, Any]:
    """YAML gives strings for dates and uuids; the columns want Python values."""
    typed: dict[str, Any] = {}
    for key, value in values.items():
        column = table.c[key]
        python = _python_type(column)
        if isinstance(value, str) and python is uuid.UUID:
            typed[key] = uuid.UUID(value)
        elif isinstance(value, str) and python is datetime:
            typed[key] = datetime.fromisoformat(value)
        elif isinstance(value, str) and python.__name__ == "date":
            typed[key] = datetime.fromisoformat(value).date()
        else:
            typed[key] = value
    return typed


def _python_type(column: sa.Column[Any]) -> type:
    try:
        return column.type.python_type
    except NotImplementedError:
        return object


async def resolve(session: AsyncSession, value: Any, *, wrap: bool = True) -> Any:
    """`value` with every `{lookup: ...}` replaced by what it finds in the workspace
    (as `{icase: ...}` for matching when `wrap`, else the plain value as text)."""
    if isinstance(value, Mapping):
        if set(value) == {"lookup"}:
            found = await lookup(session, value["lookup"])
            return {"icase": found} if wrap else found
        return {k: await resolve(session, v, wrap=wrap) for k, v in value.items()}
    if isinstance(value, list):
        return [await resolve(session, v, wrap=wrap) for v in value]
    return value


async def lookup(session: AsyncSession, spec: Mapping[str, Any]) -> str:
    """One column of the one row of `table` matching `where` (column: value) in the scope."""
    table = domain_table(str(spec["table"]))
    column = table.c[str(spec.get("column", "id"))]
    where = _typed(table, dict(spec.get("where") or {}))
    query = sa.select(column).where(table.c.workspace_id == bound_workspace(session),
                                    *(table.c[k] == v for k, v in where.items())).limit(2)
    found = list((await session.execute(query)).scalars())
    if len(found) != 1:
        raise ValueError(f"lookup {dict(spec)} found {len(found)} rows, not exactly one")
    return str(found[0])
