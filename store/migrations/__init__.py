"""Alembic migrations, run programmatically as the owning role.

`upgrade`, `downgrade` and `status` open one connection as the owner and hand it to Alembic
(env.py uses it when present), so the CLI, the service and the tests run the same code.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

HERE = Path(__file__).parent


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.attributes["connection"] = connection
    return config


async def _run(url: URL, action: str, revision: str) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(
                lambda sync: getattr(command, action)(alembic_config(sync), revision)
            )
    finally:
        await engine.dispose()


async def upgrade(url: URL, revision: str = "head") -> None:
    await _run(url, "upgrade", revision)


async def downgrade(url: URL, revision: str = "base") -> None:
    await _run(url, "downgrade", revision)


async def status(url: URL) -> tuple[str | None, str | None]:
    """(current revision of the database, head revision of the code)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(
                lambda sync: MigrationContext.configure(sync).get_current_revision()
            )
    finally:
        await engine.dispose()
    return current, head
