"""Alembic environment: runs on the connection the caller passes (see store.migrations)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from store.models import Base

MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('neptune.migrations'))"


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `neptune db upgrade`, which supplies a connection")
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(text(MIGRATION_LOCK))
        context.run_migrations()


run()
