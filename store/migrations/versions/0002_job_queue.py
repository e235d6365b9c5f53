"""The job queue: procrastinate's schema, in a PostgreSQL schema of its own.

procrastinate keeps its jobs, events and worker heartbeats in tables and plpgsql functions. They
live in schema `procrastinate` so the platform's `public` schema (and Alembic's comparison of it
with the models) stays ours. The SQL is the one shipped with the pinned procrastinate release;
upgrading procrastinate means a new revision applying its migration files.

Revision ID: 0002
Revises: 0001
"""

from importlib import resources

from alembic import op
from sqlalchemy.util import await_only

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"
SERVICE_ROLE = "neptune_service"


def upgrade() -> None:
    sql = (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"SET LOCAL search_path = {SCHEMA}, public")
    # The file holds many statements (and $$-quoted bodies): send it through asyncpg's simple
    # query protocol, which takes a script, rather than as one prepared statement.
    driver = op.get_bind().connection.dbapi_connection.driver_connection  # type: ignore[union-attr]
    await_only(driver.execute(sql))
    op.execute("RESET search_path")
    op.execute(f"GRANT USAGE ON SCHEMA {SCHEMA} TO {SERVICE_ROLE}")
    op.execute(
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {SCHEMA} TO {SERVICE_ROLE}"
    )
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {SCHEMA} TO {SERVICE_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
