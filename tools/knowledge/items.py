"""Knowledge items: adding documents and pages, reading, listing, changing, tagging, deleting.

Every item a tool creates or whose content it changes is chunked in the same transaction
(`index_item`), so full-text search finds it as soon as the call commits; the worker adds the
vectors afterwards (the call nudges it). HTML is stored as the Markdown it renders to, so what
`get_knowledge_item` shows and what chunk offsets point into are the same text. Nothing here
fetches a URL: `add_url_item` stores the text the user supplies for that address.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, HttpUrl, StringConstraints, model_validator

from store.models.core import MemberRole
from store.models.knowledge import ItemStatus, ItemType, KnowledgeItem
from store.repositories.knowledge import ChunkRepository, ItemRepository
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.jobs import nudge
from tools.knowledge.common import (
    ARGS,
    ITEM_ENTITY,
    ITEM_FIELDS,
    ItemOut,
    add_tags,
    collection_named,
    item_out,
    items_out,
    remove_tags,
    tag_id_named,
    tag_names,
)
from tools.knowledge.indexing import EMBED_KIND, content_checksum, index_item
from tools.knowledge.ingest import MIME_TYPES, DocumentFormat, html_to_markdown
from tools.registry import Risk, tool

MAX_CONTENT = 100_000
TagName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


def _tags_field(description: str) -> Any:
    return Field(default_factory=list, max_length=20, description=description)


class ItemResult(BaseModel):
    item: ItemOut
    already_added: bool = False


def _stored(content: str, fmt: DocumentFormat) -> tuple[str, str]:
    """(text to store, its MIME type): HTML is kept as the Markdown it renders to."""
    if fmt == DocumentFormat.HTML:
        return html_to_markdown(content), MIME_TYPES[DocumentFormat.MARKDOWN]
    return content, MIME_TYPES[fmt]


async def _index(ctx: ToolContext, row: KnowledgeItem) -> None:
    """Chunk the item now (text search works at commit) and ask the worker for vectors."""
    await index_item(ctx.session, ctx.scope, row)
    await nudge(ctx, EMBED_KIND, row.id)


async def _create_item(
    ctx: ToolContext, *, name: str, content: str, fmt: DocumentFormat, item_type: ItemType,
    collection: str | None, tags: list[str], source_url: str | None = None,
) -> KnowledgeItem:
    target = await collection_named(ctx, collection)
    text, mime_type = _stored(content, fmt)
    row = await ItemRepository(ctx.session, ctx.scope).create(
        name=name, type=item_type, content=text, mime_type=mime_type, source_url=source_url,
        file_size=len(content.encode()), collection_id=target.id, created_by=ctx.caller.user_id,
        meta={"format": fmt.value},
    )
    await _index(ctx, row)
    await add_tags(ctx, row.id, tags)
    await record_change(ctx, "create", ITEM_ENTITY, row.id, after={
        **snapshot(row, ITEM_FIELDS), "tags": await tag_names(ctx, row.id)})
    return row


# -- creating ---------------------------------------------------------------------------------


class CreateDocumentArgs(BaseModel):
    model_config = ARGS

    name: str = Field(min_length=1, max_length=200, description="Title, e.g. 'Refund policy'.")
    content: str = Field(
        min_length=1, max_length=MAX_CONTENT,
        description="The full text of the document (at most 100,000 characters).",
    )
    format: DocumentFormat = Field(
        default=DocumentFormat.MARKDOWN,
        description="How content is written: markdown (headings with #), html, or plain text.",
    )
    collection: str | None = Field(
        default=None, max_length=200,
        description="Name of an existing collection; omit for the default one ('General').",
    )
    tags: list[TagName] = _tags_field(
        "Tag names to attach, e.g. ['billing']; new tags are created."
    )


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Add document {name} to the knowledge base",
    examples=("save this refund policy to the knowledge base",
              "add our onboarding checklist as a document in the Help Center collection"),
)
async def create_document(ctx: ToolContext, args: CreateDocumentArgs) -> ItemResult:
    """Add a document (markdown, html or plain text) to the knowledge base. It is searchable by
    words at once and by meaning shortly after (embedding runs in the background). Headings
    become the sections search results cite. For a web page's text use add_url_item."""
    earlier = await replayed(ctx, "create", ITEM_ENTITY)
    if earlier is not None:
        row = await ItemRepository(ctx.session, ctx.scope).get(earlier)
        return ItemResult(item=await item_out(ctx, row))
    row = await _create_item(
        ctx, name=args.name, content=args.content, fmt=args.format,
        item_type=ItemType.DOCUMENT, collection=args.collection, tags=list(args.tags),
    )
    return ItemResult(item=await item_out(ctx, row))


class AddUrlItemArgs(BaseModel):
    model_config = ARGS

    url: HttpUrl = Field(description="The page's address, e.g. 'https://example.com/pricing'.")
    text: str = Field(
        min_length=1, max_length=MAX_CONTENT,
        description="The page's text as the user gave it; the page is NOT fetched.",
    )
    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Title; defaults to the URL."
    )
    format: DocumentFormat = Field(
        default=DocumentFormat.TEXT, description="How text is written: text, markdown or html."
    )
    collection: str | None = Field(
        default=None, max_length=200,
        description="Name of an existing collection; omit for the default one.",
    )
    tags: list[TagName] = _tags_field("Tag names to attach; new tags are created.")


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Add page {url} to the knowledge base",
    examples=("save this page from our docs site: https://docs.example.com/sso",
              "add the pricing page text I pasted to the knowledge base"),
)
async def add_url_item(ctx: ToolContext, args: AddUrlItemArgs) -> ItemResult:
    """Add a web page to the knowledge base from text the user supplied (nothing is
    downloaded), keeping its URL for citations. A URL already in the knowledge base is
    returned as it is (already_added); change its text with update_knowledge_item."""
    items = ItemRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", ITEM_ENTITY)
    if earlier is not None:
        return ItemResult(item=await item_out(ctx, await items.get(earlier)))
    url = str(args.url)
    existing = (await items.list(source_url=url, limit=1)).items
    if existing:
        return ItemResult(item=await item_out(ctx, existing[0]), already_added=True)
    row = await _create_item(
        ctx, name=args.name or url, content=args.text, fmt=args.format, item_type=ItemType.URL,
        collection=args.collection, tags=list(args.tags), source_url=url,
    )
    return ItemResult(item=await item_out(ctx, row))


# -- reading ----------------------------------------------------------------------------------


class GetKnowledgeItemArgs(BaseModel):
    model_config = ARGS

    item_id: uuid.UUID = Field(description="The item, as search or list results give it.")
    offset: int = Field(default=0, ge=0, description="First character of content to return.")
    max_chars: int = Field(
        default=8000, ge=100, le=50_000, description="Most characters of content to return."
    )


class KnowledgeItemResult(BaseModel):
    item: ItemOut
    sections: list[str] = Field(description="Section headings in order, as search cites them.")
    content: str = Field(description="The stored text from offset on, at most max_chars.")
    total_chars: int
    has_more: bool = Field(description="True when content continues past what is returned.")


@tool(
    risk=Risk.LOW,
    examples=("show me the refund policy document", "read the rest of that document"),
)
async def get_knowledge_item(ctx: ToolContext, args: GetKnowledgeItemArgs) -> KnowledgeItemResult:
    """Read a knowledge item: its details, section headings and stored text. Long texts come in
    pages: call again with offset = offset + max_chars while has_more is true. To find a
    passage, search_knowledge is faster than reading."""
    row = await ItemRepository(ctx.session, ctx.scope).get(args.item_id)
    content = row.content or ""
    chunks = await ChunkRepository(ctx.session, ctx.scope).for_item(row.id)
    headings = list(dict.fromkeys(c.heading for c in chunks if c.heading))
    end = args.offset + args.max_chars
    return KnowledgeItemResult(
        item=await item_out(ctx, row), sections=headings, content=content[args.offset:end],
        total_chars=len(content), has_more=end < len(content),
    )


class ListKnowledgeItemsArgs(BaseModel):
    model_config = ARGS

    text: str = Field(default="", max_length=200, description="Words in the name or URL.")
    collection: str | None = Field(default=None, max_length=200, description="Collection name.")
    tag: str | None = Field(default=None, max_length=50, description="Only items with this tag.")
    type: ItemType | None = Field(default=None, description="document, url, text or image.")
    status: ItemStatus | None = Field(
        default=None, description="processing (still being embedded), ready or failed."
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most items to return (1-50).")


class KnowledgeItemList(BaseModel):
    items: list[ItemOut]
    has_more: bool


@tool(
    risk=Risk.LOW,
    examples=("what documents are in the knowledge base?", "list items tagged billing",
              "which documents are still processing?"),
)
async def list_knowledge_items(
    ctx: ToolContext, args: ListKnowledgeItemsArgs
) -> KnowledgeItemList:
    """List knowledge base items, newest first, filtered by name, collection, tag, type or
    status. To find what a document says, use search_knowledge instead."""
    collection_id = (await collection_named(ctx, args.collection)).id if args.collection else None
    tag_id = await tag_id_named(ctx, args.tag) if args.tag else None
    page = await ItemRepository(ctx.session, ctx.scope).search(
        args.text, collection_id=collection_id, status=args.status, tag_id=tag_id,
        item_type=args.type, limit=args.limit,
    )
    return KnowledgeItemList(items=await items_out(ctx, page.items),
                             has_more=page.next_cursor is not None)


# -- changing ---------------------------------------------------------------------------------


class UpdateKnowledgeItemArgs(BaseModel):
    model_config = ARGS

    item_id: uuid.UUID = Field(description="The item to change.")
    name: str | None = Field(default=None, min_length=1, max_length=200, description="New title.")
    content: str | None = Field(
        default=None, min_length=1, max_length=MAX_CONTENT,
        description="New full text; replaces the old text and is re-indexed.",
    )
    format: DocumentFormat | None = Field(
        default=None, description="How the new content is written; defaults to markdown."
    )
    collection: str | None = Field(
        default=None, max_length=200, description="Move the item to this existing collection."
    )

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set - {"item_id", "format"}:
            raise ValueError("give at least one of name, content or collection")
        if self.format is not None and self.content is None:
            raise ValueError("format only applies together with content")
        return self


@tool(
    risk=Risk.MEDIUM, title="Update knowledge item {item_id}",
    examples=("replace the refund policy text with this new version",
              "rename that document to 'Refunds (2025)'", "move the SSO guide to Help Center"),
)
async def update_knowledge_item(ctx: ToolContext, args: UpdateKnowledgeItemArgs) -> ItemResult:
    """Rename a knowledge item, replace its whole text (which is re-indexed; search by meaning
    catches up shortly after), or move it to another collection. Only what you pass changes."""
    items = ItemRepository(ctx.session, ctx.scope)
    row = await items.get(args.item_id)
    before = snapshot(row, ITEM_FIELDS)
    values: dict[str, Any] = {}
    if args.name is not None:
        values["name"] = args.name
    if args.collection is not None:
        values["collection_id"] = (await collection_named(ctx, args.collection)).id
    if args.content is not None:
        fmt = args.format or DocumentFormat.MARKDOWN
        text, mime_type = _stored(args.content, fmt)
        if content_checksum(text) != row.checksum or mime_type != row.mime_type:
            values.update(content=text, mime_type=mime_type, file_size=len(args.content.encode()),
                          meta={**row.meta, "format": fmt.value})
    row = await items.update(row.id, **values)
    if "content" in values:
        await _index(ctx, row)
    await record_change(ctx, "update", ITEM_ENTITY, row.id, before=before,
                        after=snapshot(row, ITEM_FIELDS))
    return ItemResult(item=await item_out(ctx, row))


class TagItemArgs(BaseModel):
    model_config = ARGS

    item_id: uuid.UUID = Field(description="The item to tag.")
    tags: list[TagName] = Field(
        min_length=1, max_length=20, description="Tag names, e.g. ['billing', 'policy']."
    )
    remove: bool = Field(
        default=False, description="True to detach these tags instead of attaching them."
    )


@tool(
    risk=Risk.LOW, role=MemberRole.MEMBER, title="Tag knowledge item {item_id}",
    examples=("tag the refund policy as billing", "remove the draft tag from the SSO guide"),
)
async def tag_item(ctx: ToolContext, args: TagItemArgs) -> ItemResult:
    """Attach tags to a knowledge item (new tag names are created), or detach them with
    remove=true. Tags filter search_knowledge and list_knowledge_items. Attaching a tag the
    item has, or detaching one it lacks, changes nothing."""
    row = await ItemRepository(ctx.session, ctx.scope).get(args.item_id)
    before = await tag_names(ctx, row.id)
    if args.remove:
        await remove_tags(ctx, row.id, args.tags)
    else:
        await add_tags(ctx, row.id, args.tags)
    after = await tag_names(ctx, row.id)
    if after != before:
        await record_change(ctx, "update", ITEM_ENTITY, row.id, before={"tags": before},
                            after={"tags": after})
    return ItemResult(item=await item_out(ctx, row))


class DeleteKnowledgeItemArgs(BaseModel):
    model_config = ARGS

    item_id: uuid.UUID = Field(description="The item to delete with its search index.")


class DeletedItem(BaseModel):
    id: uuid.UUID
    name: str | None
    already_deleted: bool = False


@tool(
    risk=Risk.HIGH, title="Delete knowledge item {item_id}",
    examples=("delete the old pricing document from the knowledge base",
              "remove that outdated SSO page"),
)
async def delete_knowledge_item(
    ctx: ToolContext, args: DeleteKnowledgeItemArgs
) -> DeletedItem:
    """Delete a knowledge item permanently, with its text, chunks and tag links; search stops
    citing it at once. This cannot be undone (the text is gone unless the user has a copy)."""
    earlier = await replayed(ctx, "delete", ITEM_ENTITY)
    if earlier is not None:
        return DeletedItem(id=earlier, name=None, already_deleted=True)
    items = ItemRepository(ctx.session, ctx.scope)
    row = await items.get(args.item_id)
    before = {**snapshot(row, ITEM_FIELDS), "tags": await tag_names(ctx, row.id)}
    await items.delete(row.id)
    await record_change(ctx, "delete", ITEM_ENTITY, row.id, before=before)
    return DeletedItem(id=row.id, name=before["name"])
