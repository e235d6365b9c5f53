"""The HTTP API's tables: access keys (hashed), rate-limit buckets shared by every replica, and
idempotent request answers; and two look-ups a role that sees one workspace at a time needs
before it knows the workspace: which workspace an access key belongs to, and which workspace a
token's workspace claim (id, slug or Clerk organisation id) names.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SERVICE_ROLE = "neptune_service"
TABLES = ("access_keys", "http_idempotency", "rate_limit_buckets")

KEY_WORKSPACE = "neptune_access_key_workspace(uuid)"
WORKSPACE_REF = "neptune_workspace_ref(text)"
FUNCTIONS = (
    """
CREATE OR REPLACE FUNCTION neptune_access_key_workspace(key uuid) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$ SELECT k.workspace_id FROM access_keys k WHERE k.id = key $$
""",
    """
CREATE OR REPLACE FUNCTION neptune_workspace_ref(ref text) RETURNS uuid
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public, pg_temp
AS $$
  SELECT w.id FROM workspaces w
   WHERE w.is_active AND (w.id::text = lower(ref) OR w.slug = ref OR w.clerk_organization_id = ref)
   ORDER BY (w.id::text = lower(ref)) DESC LIMIT 1
$$
""",
)


def upgrade() -> None:
    op.create_table(
        "access_keys",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("last_four", sa.String(length=4), nullable=False),
        sa.Column(
            "scopes",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_access_keys_created_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_access_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_access_keys_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_access_keys")),
    )
    op.create_index(
        op.f("ix_access_keys_workspace_id_user_id"),
        "access_keys",
        ["workspace_id", "user_id"],
        unique=False,
    )
    op.create_table(
        "http_idempotency",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_http_idempotency_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_http_idempotency_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_http_idempotency")),
        sa.UniqueConstraint(
            "workspace_id",
            "user_id",
            "key",
            name=op.f("uq_http_idempotency_workspace_id_user_id_key"),
        ),
    )
    op.create_index(
        op.f("ix_http_idempotency_workspace_id_created_at"),
        "http_idempotency",
        ["workspace_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "rate_limit_buckets",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("id", sa.Uuid(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("tat", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_rate_limit_buckets_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", "id", name=op.f("pk_rate_limit_buckets")),
        sa.UniqueConstraint(
            "workspace_id", "bucket", name=op.f("uq_rate_limit_buckets_workspace_id_bucket")
        ),
    )

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
    for function in (KEY_WORKSPACE, WORKSPACE_REF):
        op.execute(f"REVOKE ALL ON FUNCTION {function} FROM PUBLIC")
        op.execute(f"GRANT EXECUTE ON FUNCTION {function} TO {SERVICE_ROLE}")


def downgrade() -> None:
    for function in (KEY_WORKSPACE, WORKSPACE_REF):
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.drop_table("rate_limit_buckets")
    op.drop_index(
        op.f("ix_http_idempotency_workspace_id_created_at"), table_name="http_idempotency"
    )
    op.drop_table("http_idempotency")
    op.drop_index(op.f("ix_access_keys_workspace_id_user_id"), table_name="access_keys")
    op.drop_table("access_keys")
