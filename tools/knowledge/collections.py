"""Knowledge collections: named groups of items (a help centre, a sales playbook) that search
can be limited to. Every workspace has a default collection, "General", created on first use."""

from __future__ import annotations

from pydantic import BaseModel, Field

from store.models.core import MemberRole
from store.repositories.knowledge import CollectionRepository
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.knowledge.common import (
    ARGS,
    COLLECTION_ENTITY,
    COLLECTION_FIELDS,
    CollectionOut,
    collection_out,
)
from tools.registry import Risk, tool


class CreateCollectionArgs(BaseModel):
    model_config = ARGS

    name: str = Field(min_length=1, max_length=100, description="e.g. 'Help Center'.")
    description: str | None = Field(
        default=None, max_length=1000, description="What belongs in it, for people and search."
    )


class CollectionResult(BaseModel):
    collection: CollectionOut
    already_existed: bool = False


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Create knowledge collection {name}",
    examples=("create a collection called Sales Playbook",
              "make a Help Center collection for customer-facing articles"),
)
async def create_collection(ctx: ToolContext, args: CreateCollectionArgs) -> CollectionResult:
    """Create a knowledge collection to group documents. A collection with the same name
    (ignoring case) is returned as it is (already_existed) instead of a duplicate."""
    collections = CollectionRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", COLLECTION_ENTITY)
    if earlier is not None:
        return CollectionResult(collection=collection_out(await collections.get(earlier)))
    existing = await collections.by_name(args.name)
    if existing is not None:
        return CollectionResult(collection=collection_out(existing), already_existed=True)
    row = await collections.create(name=args.name.strip(), description=args.description,
                                   created_by=ctx.caller.user_id)
    await record_change(ctx, "create", COLLECTION_ENTITY, row.id,
                        after=snapshot(row, COLLECTION_FIELDS))
    return CollectionResult(collection=collection_out(row))


class ListCollectionsArgs(BaseModel):
    model_config = ARGS

    text: str = Field(default="", max_length=100, description="Words in the name or description.")
    limit: int = Field(default=20, ge=1, le=50, description="Most collections to return (1-50).")


class CollectionList(BaseModel):
    collections: list[CollectionOut] = Field(description="By name.")
    has_more: bool


@tool(
    risk=Risk.LOW,
    examples=("what knowledge collections do we have?", "list the knowledge base folders"),
)
async def list_collections(ctx: ToolContext, args: ListCollectionsArgs) -> CollectionList:
    """List knowledge collections by name with how many items each holds."""
    page = await CollectionRepository(ctx.session, ctx.scope).search(args.text, limit=args.limit)
    return CollectionList(collections=[collection_out(c) for c in page.items],
                          has_more=page.next_cursor is not None)
