"""Bring a database to a usable state: roles, database, extension, migrations.

Roles:
- `neptune_owner` owns the schema and runs migrations (and maintenance such as key rotation,
  which is why it may bypass row-level security);
- `neptune_service` is a NOLOGIN group that holds the data privileges, and nothing else;
- `neptune_app` is the service's login role: a member of `neptune_service`, owning nothing,
  never BYPASSRLS, so every query it makes passes the tenant policies.
Bootstrap runs under an exclusive file lock so two processes starting at once cannot race.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL

from store.config import (
    APP_ROLE,
    DATABASE_NAME,
    OWNER_ROLE,
    SERVICE_GROUP,
    StoreSettings,
    app_url_for,
    parse_database_url,
)
from store.embedded import EmbeddedServer, ensure_writable
from store.errors import ConfigError
from store.migrations import upgrade


@dataclass(frozen=True)
class DatabaseUrls:
    owner: URL
    app: URL
    server: EmbeddedServer | None = None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def asyncpg_dsn(url: URL) -> tuple[str, str | None]:
    """asyncpg connect() arguments for a SQLAlchemy URL (a Unix-socket host is in the query)."""
    plain = url.set(drivername="postgresql", query={})
    host = str(url.query["host"]) if "host" in url.query else None
    return plain.render_as_string(hide_password=False), host


async def connect(url: URL, *, connect_timeout: float = 10) -> asyncpg.Connection:
    dsn, host = asyncpg_dsn(url)
    where = url.host or url.query.get("host", "localhost")
    try:
        connection: asyncpg.Connection = await asyncpg.connect(
            dsn, host=host, timeout=connect_timeout
        )
        return connection
    except (OSError, TimeoutError) as exc:
        raise ConfigError(
            f"cannot reach PostgreSQL at {where}:{url.port or 5432} ({exc}); "
            "check NEPTUNE_DATABASE_URL or unset it to use the embedded server"
        ) from None
    except asyncpg.PostgresError as exc:
        raise ConfigError(f"PostgreSQL at {where} refused the connection: {exc}") from None


async def ensure_roles(admin: asyncpg.Connection, *, owner: bool, app_password: str | None) -> None:
    """Create the service group and app login role (and the owner, on the embedded server)."""
    wanted = [
        (SERVICE_GROUP, "NOLOGIN NOBYPASSRLS"),
        (APP_ROLE, f"LOGIN NOBYPASSRLS INHERIT IN ROLE {SERVICE_GROUP}"),
    ]
    if owner:
        wanted.insert(0, (OWNER_ROLE, "LOGIN BYPASSRLS"))
    for role, options in wanted:
        if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            continue
        with contextlib.suppress(asyncpg.DuplicateObjectError):  # another process won the race
            await admin.execute(f"CREATE ROLE {role} {options}")
    if app_password:
        await admin.execute(f"ALTER ROLE {APP_ROLE} PASSWORD {quote_literal(app_password)}")


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


async def ensure_database(admin: asyncpg.Connection, name: str, owner: str) -> bool:
    """Create database `name` owned by `owner` unless it exists; True when it was created."""
    if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
        return False
    try:
        await admin.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
    except asyncpg.DuplicateDatabaseError:
        return False
    return True


async def prepare_embedded(server: EmbeddedServer, database: str) -> DatabaseUrls:
    admin = await connect(server.url("postgres", "postgres"))
    try:
        await ensure_roles(admin, owner=True, app_password=None)
        await ensure_database(admin, database, OWNER_ROLE)
    finally:
        await admin.close()
    # pgvector is not a trusted extension: the superuser creates it once per database.
    db_admin = await connect(server.url("postgres", database))
    try:
        await db_admin.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await db_admin.close()
    return DatabaseUrls(
        owner=server.url(OWNER_ROLE, database), app=server.url(APP_ROLE, database), server=server
    )


async def prepare_external(settings: StoreSettings) -> DatabaseUrls:
    assert settings.database_url is not None
    owner_url = parse_database_url(settings.database_url)
    conn = await connect(owner_url)
    try:
        can_create = await conn.fetchval(
            "SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        if can_create:
            await ensure_roles(conn, owner=False, app_password=settings.app_db_password)
        elif not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", SERVICE_GROUP):
            raise ConfigError(
                f"role {SERVICE_GROUP} does not exist and {owner_url.username} cannot create it; "
                f"create roles {SERVICE_GROUP} (NOLOGIN) and {APP_ROLE} (LOGIN, member of it)"
            )
        await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    finally:
        await conn.close()
    return DatabaseUrls(owner=owner_url, app=app_url_for(owner_url, settings))


async def prepare(settings: StoreSettings, *, migrate: bool = True) -> DatabaseUrls:
    """Start (or reach) the server, ensure roles and database, run migrations."""
    if not settings.embedded:
        # Concurrent migrators on an external server serialise on an advisory lock (env.py).
        urls = await prepare_external(settings)
        if migrate:
            await upgrade(urls.owner)
        return urls
    ensure_writable(settings.data_dir)
    with file_lock(settings.data_dir / "bootstrap.lock"):
        server = await asyncio.to_thread(EmbeddedServer, settings.data_dir)
        urls = await prepare_embedded(server, DATABASE_NAME)
        if migrate:
            await upgrade(urls.owner)
    return urls
