"""Migrations: upgrade on an empty database, downgrade, upgrade again; models == migration."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine

from store.bootstrap import DatabaseUrls, prepare_embedded
from store.config import APP_ROLE
from store.embedded import EmbeddedServer
from store.migrations import downgrade, status, upgrade
from store.models import Base, tenant_tables

PUBLIC_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
QUEUE_TABLES = "SELECT tablename FROM pg_tables WHERE schemaname = 'procrastinate'"
RLS_STATE = """
SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
"""


async def _fetch(url: sa.URL, query: str) -> list[sa.Row[tuple[object, ...]]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(sa.text(query))).all())
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(pg: EmbeddedServer) -> None:
    urls = await prepare_embedded(pg, "neptune_migrations")
    expected = {t.name for t in Base.metadata.sorted_tables}
    await upgrade(urls.owner)
    assert {r[0] for r in await _fetch(urls.owner, PUBLIC_TABLES)} == expected | {"alembic_version"}
    assert await status(urls.owner) == ("0005", "0005")
    assert {r[0] for r in await _fetch(urls.owner, QUEUE_TABLES)} >= {"procrastinate_jobs"}
    await downgrade(urls.owner)
    assert {r[0] for r in await _fetch(urls.owner, PUBLIC_TABLES)} == {"alembic_version"}
    assert await _fetch(urls.owner, QUEUE_TABLES) == []
    assert (await status(urls.owner))[0] is None
    await upgrade(urls.owner)
    assert {r[0] for r in await _fetch(urls.owner, PUBLIC_TABLES)} == expected | {"alembic_version"}


async def test_models_match_the_migration(db_urls: DatabaseUrls) -> None:
    engine = create_async_engine(db_urls.owner)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert diff == [], "models changed: run `python -m store.migrations.regen`"


async def test_every_tenant_table_forces_row_level_security(db_urls: DatabaseUrls) -> None:
    state = {r[0]: (r[1], r[2]) for r in await _fetch(db_urls.owner, RLS_STATE)}
    guarded = {t.name for t in tenant_tables()} | {"workspaces"}
    assert {name for name, flags in state.items() if flags == (True, True)} == guarded
    for table in tenant_tables():
        assert table.primary_key.columns.keys() == ["workspace_id", "id"], table.name


async def test_service_role_owns_nothing_and_cannot_bypass(db_urls: DatabaseUrls) -> None:
    role = await _fetch(
        db_urls.owner, f"SELECT rolbypassrls, rolsuper FROM pg_roles WHERE rolname = '{APP_ROLE}'"
    )
    assert [tuple(r) for r in role] == [(False, False)]
    owned = await _fetch(
        db_urls.owner,
        f"SELECT relname FROM pg_class WHERE relowner = "
        f"(SELECT oid FROM pg_roles WHERE rolname = '{APP_ROLE}')",
    )
    assert owned == []
    who = await _fetch(db_urls.app, "SELECT current_user")
    assert who[0][0] == APP_ROLE
