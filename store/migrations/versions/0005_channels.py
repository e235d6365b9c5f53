"""Slack and phone channels: inbound deliveries (de-duplicated, worked off by the worker) and
links from a Slack user or a phone number to a member; the two look-ups a role that sees one
workspace at a time needs before it knows the workspace (which workspace a Slack team, or a
called number, belongs to); and `neptune_due_work` listing Slack deliveries that are due.

Like the other SECURITY DEFINER functions, the look-ups return ids only; everything else is read
inside the workspace's own scope.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SERVICE_ROLE = "neptune_service"
TABLES = ("channel_deliveries", "channel_user_links")

SLACK_WORKSPACES = "neptune_slack_workspaces(text)"
PHONE_WORKSPACE = "neptune_phone_workspace(text)"
FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION neptune_slack_workspaces(team text) RETURNS SETOF uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT i.workspace_id FROM integrations i JOIN workspaces w ON w.id = i.workspace_id
   WHERE i.provider = 'slack' AND i.account_id = team AND i.status = 'active' AND w.is_active
   ORDER BY i.created_at LIMIT 2
$$
""",
    """
CREATE OR REPLACE FUNCTION neptune_phone_workspace(number text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT n.workspace_id FROM workspace_phone_numbers n JOIN workspaces w ON w.id = n.workspace_id
   WHERE n.phone_number = number AND n.status = 'active' AND w.is_active
$$
""",
)

DUE_WORK = "neptune_due_work(timestamptz, text, integer)"
_DUE_WORK_HEAD = """
CREATE OR REPLACE FUNCTION neptune_due_work(
    at timestamptz, current_model text, max_rows integer
) RETURNS TABLE (kind text, workspace_id uuid, record_id uuid, due_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  (SELECT 'campaign', c.workspace_id, c.id, c.scheduled_at FROM campaigns c
    WHERE c.status = 'scheduled' AND c.scheduled_at <= at
    ORDER BY c.scheduled_at LIMIT max_rows)
  UNION ALL
  (SELECT 'blog_post', p.workspace_id, p.id, p.scheduled_at FROM blog_posts p
    WHERE p.status = 'scheduled' AND p.scheduled_at <= at
    ORDER BY p.scheduled_at LIMIT max_rows)
  UNION ALL
  (SELECT 'agent_schedule', s.workspace_id, s.id, s.next_run_at FROM agent_schedules s
    WHERE s.enabled AND s.next_run_at <= at
    ORDER BY s.next_run_at LIMIT max_rows)
  UNION ALL
  (SELECT 'grid_resume', g.workspace_id, g.id, g.resume_at FROM grid_executions g
    WHERE g.status = 'waiting' AND g.resume_at <= at
    ORDER BY g.resume_at LIMIT max_rows)
  UNION ALL
  (SELECT 'grid_run', g.workspace_id, g.id, g.created_at FROM grid_executions g
    WHERE g.status = 'pending' ORDER BY g.created_at LIMIT max_rows)
  UNION ALL
  (SELECT 'agent_run', e.workspace_id, e.id, e.created_at FROM agent_executions e
    WHERE e.status = 'pending' ORDER BY e.created_at LIMIT max_rows)
  UNION ALL
  (SELECT 'workflow_run', w.workspace_id, w.id, w.started_at FROM agent_workflow_executions w
    WHERE w.status = 'pending' ORDER BY w.started_at LIMIT max_rows)
  UNION ALL
  (SELECT 'embed', k.workspace_id, k.item_id, min(k.created_at) FROM knowledge_chunks k
    WHERE current_model IS NOT NULL
      AND k.embedding_model IS DISTINCT FROM current_model
    GROUP BY k.workspace_id, k.item_id
    ORDER BY min(k.created_at) LIMIT max_rows)"""
# A Slack delivery is due while pending (after its retry time) or while running past its lease
# (the worker that claimed it died); `now()` for the lease, as the claim itself uses.
_DUE_SLACK = """
  UNION ALL
  (SELECT 'slack', d.workspace_id, d.id, coalesce(d.retry_at, d.created_at)
     FROM channel_deliveries d
    WHERE d.channel = 'slack' AND (
          (d.status = 'pending' AND (d.retry_at IS NULL OR d.retry_at <= at))
       OR (d.status = 'running' AND d.lease_until < now()))
    ORDER BY 4 LIMIT max_rows)"""
_DUE_WORK_TAIL = "\n$$\n"


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
    ]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"],
                                   name=op.f(f"fk_{table}_workspace_id_workspaces"),
                                   ondelete="CASCADE")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True)


def _create_deliveries() -> None:
    op.create_table(
        "channel_deliveries",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("channel", _enum("deliverychannel", "slack", "voice", "sms"), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("status", _enum("deliverystatus", "pending", "running", "done", "failed"),
                  server_default="pending", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        *_timestamps(),
        sa.CheckConstraint("attempts >= 0",
                           name=op.f("ck_channel_deliveries_attempts_not_negative")),
        _workspace_fk("channel_deliveries"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_channel_deliveries")),
        sa.UniqueConstraint("workspace_id", "channel", "key",
                            name=op.f("uq_channel_deliveries_workspace_id_channel_key")),
    )
    op.create_index(op.f("ix_channel_deliveries_status_retry_at"), "channel_deliveries",
                    ["status", "retry_at"], unique=False)


def _create_links() -> None:
    op.create_table(
        "channel_user_links",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", _enum("linkprovider", "slack", "phone"), nullable=False),
        sa.Column("external_id", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        *_timestamps(),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"],
                                name=op.f("fk_channel_user_links_created_by_users"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_channel_user_links_user_id_users"),
                                ondelete="CASCADE"),
        _workspace_fk("channel_user_links"),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_channel_user_links")),
        sa.UniqueConstraint("workspace_id", "provider", "external_id",
                            name=op.f("uq_channel_user_links_workspace_id_provider_external_id")),
    )


def upgrade() -> None:
    _create_deliveries()
    _create_links()
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY tenant_isolation ON {table} "
            "USING (workspace_id = neptune_workspace_id()) "
            "WITH CHECK (workspace_id = neptune_workspace_id())"
        )
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {SERVICE_ROLE}")
    for function_sql in FUNCTIONS:
        op.execute(function_sql)
    for function in (SLACK_WORKSPACES, PHONE_WORKSPACE):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {SERVICE_ROLE}")
    op.execute(_DUE_WORK_HEAD + _DUE_SLACK + _DUE_WORK_TAIL)


def downgrade() -> None:
    op.execute(_DUE_WORK_HEAD + _DUE_WORK_TAIL)
    for function in (SLACK_WORKSPACES, PHONE_WORKSPACE):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_table("channel_user_links")
    op.drop_index(op.f("ix_channel_deliveries_status_retry_at"), table_name="channel_deliveries")
    op.drop_table("channel_deliveries")
