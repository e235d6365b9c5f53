"""Proactive insight sweeps: when the detectors last ran for each workspace (`insight_sweeps`),
and the look-up the worker needs to find the workspaces whose sweep is due, across workspaces,
while the service role sees one workspace at a time.

A workspace is due when it was never swept, when its last sweep is older than the interval, or
when a tool that changes what detectors look at (`triggers`: a deal's stage, a new invoice)
succeeded after the last sweep started. A workspace's own `insight_sweep_seconds` setting
overrides the interval (at least a minute; 0 switches its sweeps off). Like `neptune_due_work`, the function is SECURITY
DEFINER and returns ids only; the sweep itself runs inside the workspace's own scope. A trigger
call is looked for among the calls made in the two days before the last sweep or since (an
approved call finishes within a day of being proposed), so the look-up stays a short range of
the history index however long the history grows.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SERVICE_ROLE = "neptune_service"
TABLES = ("insight_sweeps",)

DUE_SWEEPS = "neptune_due_insight_sweeps(timestamptz, interval, text[], integer)"
DUE_SWEEPS_FUNCTION = """
CREATE OR REPLACE FUNCTION neptune_due_insight_sweeps(
    at timestamptz, sweep_every interval, triggers text[], max_rows integer
) RETURNS TABLE (workspace_id uuid, due_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  WITH chosen AS (
    SELECT w.id, w.created_at, s.id AS sweep_id, s.swept_at, s.actions_until,
           CASE WHEN jsonb_typeof(w.settings -> 'insight_sweep_seconds') = 'number'
                THEN make_interval(secs => (w.settings ->> 'insight_sweep_seconds')::float8)
                ELSE sweep_every END AS every
      FROM workspaces w LEFT JOIN insight_sweeps s ON s.workspace_id = w.id
     WHERE w.is_active
  ), due AS (
    SELECT id, created_at, sweep_id, swept_at, actions_until,
           greatest(every, interval '60 seconds') AS every
      FROM chosen WHERE every > interval '0'
  )
  SELECT d.id, coalesce(d.swept_at + d.every, d.created_at)
    FROM due d
   WHERE d.sweep_id IS NULL
      OR d.swept_at <= at - d.every
      OR EXISTS (SELECT 1 FROM neptune_action_history h
                  WHERE h.workspace_id = d.id AND h.action_type = ANY(triggers)
                    AND h.created_at > d.actions_until - interval '2 days'
                    AND h.status = 'success' AND h.updated_at > d.actions_until)
   ORDER BY 2 LIMIT max_rows
$$
"""


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    ]


def _create_sweeps() -> None:
    op.create_table(
        "insight_sweeps",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("swept_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actions_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("findings", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        *_timestamps(),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                name=op.f("fk_insight_sweeps_workspace_id_workspaces"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_insight_sweeps")),
        sa.UniqueConstraint("workspace_id", name=op.f("uq_insight_sweeps_workspace_id")),
    )


def upgrade() -> None:
    _create_sweeps()
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            "USING (workspace_id = neptune_workspace_id()) "
            "WITH CHECK (workspace_id = neptune_workspace_id())"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SERVICE_ROLE}")
    op.execute(DUE_SWEEPS_FUNCTION)
    op.execute(f"REVOKE ALL ON FUNCTION {DUE_SWEEPS} FROM PUBLIC")
    op.execute(f"GRANT EXECUTE ON FUNCTION {DUE_SWEEPS} TO {SERVICE_ROLE}")


def downgrade() -> None:
    op.execute(f"DROP FUNCTION IF EXISTS {DUE_SWEEPS}")
    op.drop_table("insight_sweeps")
