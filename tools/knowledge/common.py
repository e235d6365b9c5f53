"""What the knowledge tools share: output models, name lookups that answer the model with the
names that do exist, and writes that also land in the audit log (tags and the default
collection are created on first use, so those creations are audited too)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from store.models.knowledge import ItemStatus, ItemType, KnowledgeCollection, KnowledgeItem
from store.repositories.knowledge import CollectionRepository, TagRepository
from tools.audit import record_change, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError

ARGS = ConfigDict(frozen=True, extra="forbid")
ITEM_FIELDS = ("name", "type", "collection_id", "source_url", "mime_type", "status", "checksum",
               "chunk_count")
COLLECTION_FIELDS = ("name", "description", "is_default")
ITEM_ENTITY = "knowledge_item"
COLLECTION_ENTITY = "knowledge_collection"
TAG_ENTITY = "knowledge_tag"
NAMES_SHOWN = 30


class CollectionOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    is_default: bool
    item_count: int


def collection_out(row: KnowledgeCollection) -> CollectionOut:
    return CollectionOut(id=row.id, name=row.name, description=row.description,
                         is_default=row.is_default, item_count=row.item_count)


class ItemOut(BaseModel):
    id: uuid.UUID
    name: str
    type: ItemType
    collection: str | None
    source_url: str | None
    status: ItemStatus
    chunk_count: int
    tags: list[str]
    created_at: datetime
    last_indexed_at: datetime | None


async def items_out(ctx: ToolContext, rows: Sequence[KnowledgeItem]) -> list[ItemOut]:
    """Output models for items, with collection and tag names (two queries for the lot)."""
    tags = await TagRepository(ctx.session, ctx.scope).names_for_items(r.id for r in rows)
    wanted = {r.collection_id for r in rows if r.collection_id is not None}
    collections = CollectionRepository(ctx.session, ctx.scope)
    names = {c.id: c.name for c in await collections.get_many(wanted)}
    return [
        ItemOut(id=r.id, name=r.name, type=r.type, source_url=r.source_url, status=r.status,
                collection=names.get(r.collection_id) if r.collection_id else None,
                chunk_count=r.chunk_count, tags=tags.get(r.id, []), created_at=r.created_at,
                last_indexed_at=r.last_indexed_at)
        for r in rows
    ]


async def item_out(ctx: ToolContext, row: KnowledgeItem) -> ItemOut:
    return (await items_out(ctx, [row]))[0]


async def collection_named(ctx: ToolContext, name: str | None) -> KnowledgeCollection:
    """The collection called `name`; without a name, the default one (created on first use)."""
    collections = CollectionRepository(ctx.session, ctx.scope)
    if name is None:
        return await default_collection(ctx)
    found = await collections.by_name(name)
    if found is None:
        known = [c.name for c in (await collections.search(limit=NAMES_SHOWN)).items]
        raise RetryableToolError(
            f"no knowledge collection {name!r}; use one of {known}, omit it for the default "
            "collection, or create it with create_collection"
        )
    return found


async def default_collection(ctx: ToolContext) -> KnowledgeCollection:
    collections = CollectionRepository(ctx.session, ctx.scope)
    existed = (await collections.list(is_default=True, limit=1)).items
    if existed:
        return existed[0]
    row = await collections.default(created_by=ctx.caller.user_id)
    await record_change(ctx, "create", COLLECTION_ENTITY, row.id,
                        after=snapshot(row, COLLECTION_FIELDS))
    return row


async def tag_id_named(ctx: ToolContext, name: str) -> uuid.UUID:
    """An existing tag's id, for filters: an unknown tag is an error naming the real ones."""
    tags = TagRepository(ctx.session, ctx.scope)
    found = await tags.by_name(name)
    if found is None:
        known = [t.name for t in (await tags.list(limit=NAMES_SHOWN, sort="name",
                                                  descending=False)).items]
        raise RetryableToolError(f"no knowledge tag {name!r}; existing tags: {known}")
    return found.id


async def add_tags(ctx: ToolContext, item_id: uuid.UUID, names: Sequence[str]) -> None:
    """Attach tags by name, creating (and auditing) the ones that do not exist yet."""
    tags = TagRepository(ctx.session, ctx.scope)
    for name in names:
        tag = await tags.by_name(name)
        if tag is None:
            tag = await tags.get_or_create(name)
            await record_change(ctx, "create", TAG_ENTITY, tag.id, after={"name": tag.name})
        await tags.tag(item_id, tag.id)


async def remove_tags(ctx: ToolContext, item_id: uuid.UUID, names: Sequence[str]) -> None:
    tags = TagRepository(ctx.session, ctx.scope)
    for name in names:
        tag = await tags.by_name(name)
        if tag is not None:
            await tags.untag(item_id, tag.id)


async def tag_names(ctx: ToolContext, item_id: uuid.UUID) -> list[str]:
    return [t.name for t in await TagRepository(ctx.session, ctx.scope).for_item(item_id)]
