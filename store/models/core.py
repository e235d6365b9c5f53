"""Core / multi-tenant: workspaces, users, members, provider API keys."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    Base,
    GlobalTable,
    TenantTable,
    Timestamps,
    enum_column,
    flag_column,
    json_column,
    user_fk,
)


class SubscriptionTier(enum.StrEnum):
    FREE = "free"
    STARTER = "starter"
    PROFESSIONAL = "professional"
    ENTERPRISE = "enterprise"


class MemberRole(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


class Workspace(Timestamps, Base):
    """The tenant itself. Row-level security lets a transaction see only its own workspace row."""

    __tablename__ = "workspaces"
    id: Mapped[uuid.UUID] = mapped_column(
        primary_key=True, default=uuid.uuid4, server_default=sa.text("gen_random_uuid()")
    )
    name: Mapped[str]
    slug: Mapped[str] = mapped_column(unique=True)
    clerk_organization_id: Mapped[str | None]
    subscription_tier: Mapped[SubscriptionTier] = enum_column(
        SubscriptionTier, default=SubscriptionTier.FREE
    )
    stripe_customer_id: Mapped[str | None]
    stripe_subscription_id: Mapped[str | None]
    settings: Mapped[JSON] = json_column()
    is_active: Mapped[bool] = flag_column(True)


class User(GlobalTable):
    __tablename__ = "users"
    clerk_user_id: Mapped[str | None] = mapped_column(unique=True)
    email: Mapped[str] = mapped_column(sa.Text, index=True)
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    avatar_url: Mapped[str | None]
    preferences: Mapped[JSON] = json_column()
    last_login_at: Mapped[datetime | None]


class WorkspaceMember(TenantTable):
    __tablename__ = "workspace_members"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "user_id"),)
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[MemberRole] = enum_column(MemberRole, default=MemberRole.MEMBER)
    permissions: Mapped[JSON] = json_column()
    invited_by: Mapped[uuid.UUID | None] = user_fk()
    joined_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), default=None)
    is_active: Mapped[bool] = flag_column(True)


class WorkspaceApiKey(TenantTable):
    """A provider key (openai, anthropic, ...) the workspace brings, AES-256-GCM encrypted.

    `encrypted_key` is the whole envelope from `store.crypto` (version, key id, nonce,
    ciphertext and tag); `key_id` repeats the key id so rotation can find old rows.
    """

    __tablename__ = "workspace_api_keys"
    __table_args__ = (sa.Index(None, "workspace_id", "provider"),)
    provider: Mapped[str]
    name: Mapped[str]
    encrypted_key: Mapped[bytes] = mapped_column(sa.LargeBinary)
    key_id: Mapped[str]
    last_four: Mapped[str] = mapped_column(sa.String(4))
    is_active: Mapped[bool] = flag_column(True)
    last_used_at: Mapped[datetime | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()
