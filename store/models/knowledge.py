"""Knowledge base: collections, items (documents), tags, and the chunks search runs over.

Embeddings live in one `vector` column without a fixed dimension, so a workspace can switch
embedding models (the offline 384-dimension default, a 1536-dimension provider model) without a
migration. HNSW needs a fixed dimension, so each supported dimension gets a partial expression
index over `embedding::vector(N) WHERE embedding_dim = N`; a search casts the column the same
way and filters on `embedding_dim`, which is what lets the planner use that index. A CHECK keeps
`embedding_dim` honest, since a wrong one would make the index expression fail.

Full-text search uses a stored generated `tsvector`, so it is never out of date with `content`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import (
    JSON,
    TenantTable,
    counter_column,
    enum_column,
    flag_column,
    json_column,
    tenant_fk,
    user_fk,
)

#: Embedding dimensions with an HNSW index: the offline default model and OpenAI-sized models.
INDEXED_DIMENSIONS = (384, 1536)


def vector_indexes(table: str, dimensions: tuple[int, ...] = INDEXED_DIMENSIONS) -> list[sa.Index]:
    """Partial HNSW cosine indexes, one per dimension, over `embedding` cast to that dimension."""
    return [
        sa.Index(
            f"ix_{table}_embedding_{dim}",
            sa.literal_column(f"(embedding::vector({dim}))").label(f"embedding_{dim}"),
            postgresql_using="hnsw",
            postgresql_ops={f"embedding_{dim}": "vector_cosine_ops"},
            postgresql_where=sa.text(f"embedding_dim = {dim}"),
        )
        for dim in dimensions
    ]


def embedding_checks() -> list[sa.CheckConstraint]:
    """An embedding and its dimension are set together, and the dimension is the vector's."""
    return [
        sa.CheckConstraint(
            "(embedding IS NULL) = (embedding_dim IS NULL) "
            "AND (embedding IS NULL) = (embedding_model IS NULL)",
            name="embedding_complete",
        ),
        sa.CheckConstraint(
            "embedding IS NULL OR vector_dims(embedding) = embedding_dim",
            name="embedding_dim_matches",
        ),
    ]


class ItemType(enum.StrEnum):
    DOCUMENT = "document"
    URL = "url"
    IMAGE = "image"
    TEXT = "text"


class ItemStatus(enum.StrEnum):
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class KnowledgeCollection(TenantTable):
    __tablename__ = "knowledge_collections"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name"),
        sa.Index(
            "uq_knowledge_collections_default", "workspace_id", unique=True,
            postgresql_where=sa.text("is_default"),
        ),
    )
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    description: Mapped[str | None]
    is_default: Mapped[bool] = flag_column(False)
    is_public: Mapped[bool] = flag_column(False)
    item_count: Mapped[int] = counter_column()


class KnowledgeItem(TenantTable):
    """A document in a collection. `checksum` (sha256 of the content) lets ingestion skip an
    unchanged upload; `vector_id` is kept from the map for items indexed by an outside service."""

    __tablename__ = "knowledge_items"
    __table_args__ = (
        tenant_fk("knowledge_collections", "collection_id", ondelete="CASCADE"),
        sa.Index(None, "workspace_id", "collection_id", "created_at"),
        sa.Index(None, "workspace_id", "status"),
        sa.Index(None, "workspace_id", "checksum"),
        sa.CheckConstraint("file_size IS NULL OR file_size >= 0", name="file_size_not_negative"),
    )
    collection_id: Mapped[uuid.UUID | None]
    created_by: Mapped[uuid.UUID | None] = user_fk()
    name: Mapped[str]
    type: Mapped[ItemType] = enum_column(ItemType, default=ItemType.DOCUMENT)
    content: Mapped[str | None]
    source_url: Mapped[str | None]
    mime_type: Mapped[str | None]
    file_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    status: Mapped[ItemStatus] = enum_column(ItemStatus, default=ItemStatus.PROCESSING)
    error: Mapped[str | None]
    vector_id: Mapped[str | None]
    meta: Mapped[JSON] = json_column()
    checksum: Mapped[str | None] = mapped_column(sa.String(64))
    chunk_count: Mapped[int] = counter_column()
    last_indexed_at: Mapped[datetime | None]


class KnowledgeTag(TenantTable):
    __tablename__ = "knowledge_tags"
    __table_args__ = (sa.UniqueConstraint("workspace_id", "name"),)
    name: Mapped[str]
    color: Mapped[str | None] = mapped_column(sa.String(16))
    item_count: Mapped[int] = counter_column()


class KnowledgeItemTag(TenantTable):
    __tablename__ = "knowledge_item_tags"
    __table_args__ = (
        tenant_fk("knowledge_items", "item_id", ondelete="CASCADE"),
        tenant_fk("knowledge_tags", "tag_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "item_id", "tag_id"),
        sa.Index(None, "workspace_id", "tag_id"),
    )
    item_id: Mapped[uuid.UUID]
    tag_id: Mapped[uuid.UUID]


class KnowledgeChunk(TenantTable):
    """A passage of an item, the unit of search and of citation (item id + chunk index)."""

    __tablename__ = "knowledge_chunks"
    __table_args__ = (
        tenant_fk("knowledge_items", "item_id", ondelete="CASCADE"),
        sa.UniqueConstraint("workspace_id", "item_id", "chunk_index"),
        sa.Index("ix_knowledge_chunks_search_vector", "search_vector", postgresql_using="gin"),
        sa.Index(None, "workspace_id", "embedding_dim", "embedding_model"),
        *vector_indexes("knowledge_chunks"),
        *embedding_checks(),
        sa.CheckConstraint("chunk_index >= 0", name="chunk_index_not_negative"),
    )
    item_id: Mapped[uuid.UUID]
    chunk_index: Mapped[int]
    content: Mapped[str]
    token_count: Mapped[int] = counter_column()
    heading: Mapped[str | None]
    location: Mapped[JSON] = json_column()
    embedding: Mapped[Any | None] = mapped_column(Vector())
    embedding_model: Mapped[str | None]
    embedding_dim: Mapped[int | None]
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR,
        sa.Computed("to_tsvector('english', content)", persisted=True),
        deferred=True,
        deferred_raiseload=True,
    )
