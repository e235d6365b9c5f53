"""Creator studio: items, collections of items, global templates, and share links.

A share link's token is unique across all workspaces because it is the only thing an anonymous
visitor presents. Its optional password is kept only as a salted scrypt hash (see
`store.repositories.creator.hash_share_password`).
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped

from store.models.base import (
    JSON,
    GlobalTable,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tenant_fk,
    user_fk,
)


class CreatorItemType(enum.StrEnum):
    DOCUMENT = "document"
    PRESENTATION = "presentation"
    SOCIAL_POST = "social_post"
    NEWSLETTER = "newsletter"
    EMAIL = "email"
    IMAGE = "image"
    VIDEO_SCRIPT = "video_script"
    OTHER = "other"


class CreatorItemStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


class SharePermission(enum.StrEnum):
    VIEW = "view"
    COMMENT = "comment"


class CreatorItem(TenantTable):
    __tablename__ = "creator_items"
    __table_args__ = (
        sa.Index(None, "workspace_id", "type"),
        sa.Index(None, "workspace_id", "status"),
    )
    created_by: Mapped[uuid.UUID | None] = user_fk()
    title: Mapped[str]
    type: Mapped[CreatorItemType] = enum_column(CreatorItemType, default=CreatorItemType.DOCUMENT)
    content: Mapped[JSON] = json_column()
    status: Mapped[CreatorItemStatus] = enum_column(
        CreatorItemStatus, default=CreatorItemStatus.DRAFT
    )
    is_public: Mapped[bool] = flag_column(False)
    view_count: Mapped[int] = counter_column()
    share_count: Mapped[int] = counter_column()
    settings: Mapped[JSON] = json_column()


class CreatorCollection(TenantTable):
    """A named set of items; `item_count` is recomputed from the join rows on every change."""

    __tablename__ = "creator_collections"
    __table_args__ = (sa.CheckConstraint("item_count >= 0", name="item_count_not_negative"),)
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    description: Mapped[str | None]
    is_public: Mapped[bool] = flag_column(False)
    item_count: Mapped[int] = counter_column()


class CreatorCollectionItem(TenantTable):
    __tablename__ = "creator_collection_items"
    __table_args__ = (
        tenant_fk("creator_collections", "collection_id", ondelete="CASCADE"),
        tenant_fk("creator_items", "item_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "collection_id", "item_id"),
        sa.Index(None, "workspace_id", "item_id"),
    )
    collection_id: Mapped[uuid.UUID]
    item_id: Mapped[uuid.UUID]
    sort_order: Mapped[int] = counter_column()


class CreatorTemplate(GlobalTable):
    """A starting point offered to every workspace (published catalogue, not tenant data)."""

    __tablename__ = "creator_templates"
    __table_args__ = (sa.Index(None, "category"),)
    name: Mapped[str]
    description: Mapped[str | None]
    category: Mapped[str]
    item_type: Mapped[CreatorItemType] = enum_column(
        CreatorItemType, default=CreatorItemType.DOCUMENT
    )
    content: Mapped[JSON] = json_column()
    preview_image_url: Mapped[str | None]
    is_public: Mapped[bool] = flag_column(True)
    usage_count: Mapped[int] = counter_column()


class SharedDocument(TenantTable):
    __tablename__ = "shared_documents"
    __table_args__ = (
        tenant_fk("creator_items", "creator_item_id", ondelete="CASCADE"),
        sa.UniqueConstraint("share_token"),
        sa.Index(None, "workspace_id", "creator_item_id"),
    )
    creator_item_id: Mapped[uuid.UUID]
    created_by: Mapped[uuid.UUID | None] = user_fk()
    share_token: Mapped[str]
    permission: Mapped[SharePermission] = enum_column(
        SharePermission, default=SharePermission.VIEW
    )
    #: "scrypt$n$r$p$salt$hash" (base64 parts), or NULL when the link has no password.
    password_hash: Mapped[str | None]
    expires_at: Mapped[datetime | None]
    view_count: Mapped[int] = counter_column()
    is_active: Mapped[bool] = flag_column(True)
    last_viewed_at: Mapped[datetime | None]
