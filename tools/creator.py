"""Creator studio tools: items (documents, posts, scripts ...), collections of items, and share
links.

An item's body is stored as blocks (`{"blocks": [{"type": "heading"|"paragraph", "text"}]}`, the
shape the studio renders); the tool takes plain text and splits it: a line starting with `#` is
a heading, blank lines separate paragraphs.

A share link's password is hashed by the store and never returned or written to the audit log;
the link itself is the deliverable, so the result carries its path.

Studio templates are a public catalogue shared by every workspace (`CreatorTemplateCatalog`, no
workspace filter), so listing them reads no workspace's data; only public templates are shown.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from store.models.creator import (
    CreatorItem,
    CreatorItemStatus,
    CreatorItemType,
    CreatorTemplate,
    SharedDocument,
    SharePermission,
)
from store.repositories.creator import (
    MIN_PASSWORD_LENGTH,
    CreatorCollectionRepository,
    CreatorItemRepository,
    CreatorTemplateCatalog,
    SharedDocumentRepository,
)
from tools.audit import record_change, replayed, snapshot
from tools.context import ToolContext
from tools.errors import RetryableToolError
from tools.registry import Risk, tool

ARGS = ConfigDict(frozen=True, extra="forbid")
SHARE_PATH = "/share/{token}"
_HEADING = re.compile(r"^#{1,6}\s+")


def text_blocks(text: str) -> list[dict[str, str]]:
    """Plain text as studio blocks: `# Title` lines are headings, blank lines split paragraphs."""
    blocks: list[dict[str, str]] = []
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            blocks.append({"type": "paragraph", "text": "\n".join(paragraph)})
            paragraph.clear()

    for line in text.splitlines():
        if _HEADING.match(line):
            flush()
            blocks.append({"type": "heading", "text": _HEADING.sub("", line).strip()})
        elif line.strip():
            paragraph.append(line.rstrip())
        else:
            flush()
    flush()
    return blocks


class ItemOut(BaseModel):
    id: uuid.UUID
    title: str
    type: CreatorItemType
    status: CreatorItemStatus
    is_public: bool
    block_count: int
    share_count: int
    created_at: datetime


def _item_out(row: CreatorItem) -> ItemOut:
    blocks = row.content.get("blocks")
    return ItemOut(
        id=row.id, title=row.title, type=row.type, status=row.status, is_public=row.is_public,
        block_count=len(blocks) if isinstance(blocks, list) else 0, share_count=row.share_count,
        created_at=row.created_at,
    )


# -- items ---------------------------------------------------------------------------------------


class CreateItemArgs(BaseModel):
    model_config = ARGS

    title: str = Field(min_length=1, max_length=200, description="e.g. 'May newsletter'.")
    type: CreatorItemType = Field(
        default=CreatorItemType.DOCUMENT,
        description="document, presentation, social_post, newsletter, email, image, "
        "video_script or other.",
    )
    text: str = Field(
        default="", max_length=50_000,
        description="The body as plain text: '# ' lines are headings, blank lines split "
        "paragraphs.",
    )
    template_id: uuid.UUID | None = Field(
        default=None,
        description="Start from this studio template instead of text (from "
        "list_creator_templates).",
    )
    collection_id: uuid.UUID | None = Field(
        default=None, description="Also add the new item to this collection."
    )

    @model_validator(mode="after")
    def _text_or_template(self) -> Self:
        if self.template_id is not None and self.text:
            raise ValueError("give either text or template_id, not both")
        return self


class ItemResult(BaseModel):
    item: ItemOut
    collection_id: uuid.UUID | None = None


async def _new_item(ctx: ToolContext, args: CreateItemArgs) -> CreatorItem:
    items = CreatorItemRepository(ctx.session, ctx.scope)
    if args.template_id is not None:
        return await items.from_template(
            CreatorTemplateCatalog(ctx.session), args.template_id, title=args.title,
            created_by=ctx.caller.user_id,
        )
    return await items.create(title=args.title, type=args.type, created_by=ctx.caller.user_id,
                              content={"blocks": text_blocks(args.text)})


@tool(
    risk=Risk.MEDIUM, title="Create {title} in the creator studio",
    examples=("start a newsletter draft called May highlights",
              "write a LinkedIn post draft about the grid builder",
              "create a document from the product launch template"),
)
async def create_creator_item(ctx: ToolContext, args: CreateItemArgs) -> ItemResult:
    """Create a draft in the creator studio (a document, social post, newsletter, script ...)
    from plain text or from a template, optionally straight into a collection. Share it later
    with share_document."""
    items = CreatorItemRepository(ctx.session, ctx.scope)
    earlier = await replayed(ctx, "create", "creator_item")
    if earlier is not None:
        return ItemResult(item=_item_out(await items.get(earlier)),
                          collection_id=args.collection_id)
    collections = CreatorCollectionRepository(ctx.session, ctx.scope)
    if args.collection_id is not None:
        await collections.get(args.collection_id)
    row = await _new_item(ctx, args)
    await record_change(ctx, "create", "creator_item", row.id,
                        after=snapshot(row, ["title", "type", "status", "content"]))
    if args.collection_id is not None:
        await collections.add_item(args.collection_id, row.id)
        await record_change(ctx, "add_item", "creator_collection", args.collection_id,
                            after={"item_id": row.id})
    return ItemResult(item=_item_out(row), collection_id=args.collection_id)


class ListItemsArgs(BaseModel):
    model_config = ARGS

    text: str = Field(default="", max_length=200, description="Words in the title; '' for all.")
    type: CreatorItemType | None = Field(default=None, description="Only this kind of item.")
    status: CreatorItemStatus | None = Field(default=None, description="draft or published.")
    collection_id: uuid.UUID | None = Field(
        default=None, description="Only items in this collection (in collection order)."
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most items to return (1-50).")


class ItemList(BaseModel):
    items: list[ItemOut]
    has_more: bool


def _matches(row: CreatorItem, args: ListItemsArgs) -> bool:
    words = args.text.lower().split()
    return (all(w in row.title.lower() for w in words)
            and args.type in (None, row.type) and args.status in (None, row.status))


@tool(
    risk=Risk.LOW,
    examples=("what's in my creator studio?", "list our social post drafts",
              "what's in the Q2 launch kit collection?"),
)
async def list_creator_items(ctx: ToolContext, args: ListItemsArgs) -> ItemList:
    """List creator studio items, newest first (or in collection order), filtered by title
    words, type, status or collection."""
    if args.collection_id is not None:
        members = await CreatorCollectionRepository(ctx.session, ctx.scope).items(
            args.collection_id
        )
        rows = [r for r in members if _matches(r, args)]
        return ItemList(items=[_item_out(r) for r in rows[:args.limit]],
                        has_more=len(rows) > args.limit)
    page = await CreatorItemRepository(ctx.session, ctx.scope).search(
        args.text, type=args.type, status=args.status, limit=args.limit
    )
    return ItemList(items=[_item_out(r) for r in page.items],
                    has_more=page.next_cursor is not None)


class ListTemplatesArgs(BaseModel):
    model_config = ARGS

    text: str = Field(default="", max_length=200, description="Words in the name; '' for all.")
    category: str | None = Field(
        default=None, max_length=50, description="Only this category, e.g. 'newsletters'."
    )
    limit: int = Field(default=20, ge=1, le=50, description="Most templates to return (1-50).")


class TemplateOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    category: str
    item_type: CreatorItemType = Field(description="The kind of item it starts.")
    block_count: int


class TemplateList(BaseModel):
    templates: list[TemplateOut] = Field(description="Most used first.")
    has_more: bool


def _template_out(row: CreatorTemplate) -> TemplateOut:
    blocks = row.content.get("blocks")
    return TemplateOut(
        id=row.id, name=row.name, description=row.description, category=row.category,
        item_type=row.item_type, block_count=len(blocks) if isinstance(blocks, list) else 0,
    )


@tool(
    risk=Risk.LOW,
    examples=("which creator studio templates are there?", "is there a newsletter template?",
              "show the studio templates for presentations"),
)
async def list_creator_templates(ctx: ToolContext, args: ListTemplatesArgs) -> TemplateList:
    """List creator studio templates a new item can start from (create_creator_item with
    template_id), most used first, filtered by name words or category. The catalogue is shared
    by all workspaces."""
    rows = await CreatorTemplateCatalog(ctx.session).list(
        args.text, category=args.category, limit=args.limit + 1
    )
    return TemplateList(templates=[_template_out(r) for r in rows[:args.limit]],
                        has_more=len(rows) > args.limit)


# -- collections ---------------------------------------------------------------------------------


class CreateCollectionArgs(BaseModel):
    model_config = ARGS

    name: str = Field(min_length=1, max_length=200, description="e.g. 'Q3 launch kit'.")
    description: str | None = Field(default=None, max_length=1000, description="What it gathers.")
    item_ids: list[uuid.UUID] = Field(
        default_factory=list, max_length=100,
        description="Items to put in it, in order (from list_creator_items).",
    )


class CollectionOut(BaseModel):
    id: uuid.UUID
    name: str
    description: str | None
    item_count: int
    item_ids: list[uuid.UUID]


class CollectionResult(BaseModel):
    collection: CollectionOut


async def _collection_result(ctx: ToolContext, collection_id: uuid.UUID) -> CollectionResult:
    collections = CreatorCollectionRepository(ctx.session, ctx.scope)
    row = await collections.get(collection_id)
    items = await collections.items(collection_id)
    return CollectionResult(collection=CollectionOut(
        id=row.id, name=row.name, description=row.description, item_count=row.item_count,
        item_ids=[i.id for i in items],
    ))


async def _check_items(ctx: ToolContext, item_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    """The ids in order without repeats; any unknown id is a retryable error naming it."""
    wanted = list(dict.fromkeys(item_ids))
    found = {i.id for i in await CreatorItemRepository(ctx.session, ctx.scope).get_many(wanted)}
    missing = [str(i) for i in wanted if i not in found]
    if missing:
        raise RetryableToolError(
            f"no creator item with id {', '.join(missing)} in this workspace; "
            "list_creator_items gives ids"
        )
    return wanted


@tool(
    risk=Risk.MEDIUM, title="Create collection {name}",
    examples=("group the launch docs into a Q3 launch kit",
              "make a collection for our social snippets"),
)
async def create_creator_collection(
    ctx: ToolContext, args: CreateCollectionArgs
) -> CollectionResult:
    """Create a named collection in the creator studio, optionally filled with existing items
    in the given order."""
    earlier = await replayed(ctx, "create", "creator_collection")
    if earlier is not None:
        return await _collection_result(ctx, earlier)
    item_ids = await _check_items(ctx, args.item_ids)
    collections = CreatorCollectionRepository(ctx.session, ctx.scope)
    row = await collections.create(name=args.name, description=args.description,
                                   created_by=ctx.caller.user_id)
    for item_id in item_ids:
        await collections.add_item(row.id, item_id)
    await record_change(ctx, "create", "creator_collection", row.id, after={
        **snapshot(row, ["name", "description"]), "item_ids": item_ids})
    return await _collection_result(ctx, row.id)


# -- sharing -------------------------------------------------------------------------------------


class ShareArgs(BaseModel):
    model_config = ARGS

    item_id: uuid.UUID = Field(description="The creator item to share.")
    permission: SharePermission = Field(
        default=SharePermission.VIEW, description="view, or comment to let readers comment."
    )
    password: str | None = Field(
        default=None, min_length=MIN_PASSWORD_LENGTH, max_length=128,
        description="Optional password readers must enter (4-128 characters).",
    )
    expires_in_days: int | None = Field(
        default=None, ge=1, le=365, description="Link stops working after this many days."
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="Or: the moment the link stops working (future, timezone)."
    )

    @model_validator(mode="after")
    def _one_expiry(self) -> Self:
        if self.expires_in_days is not None and self.expires_at is not None:
            raise ValueError("give expires_in_days or expires_at, not both")
        return self


class ShareOut(BaseModel):
    share_id: uuid.UUID
    item_id: uuid.UUID
    item_title: str
    url_path: str = Field(description="Path of the link on the workspace's app address.")
    permission: SharePermission
    password_protected: bool
    expires_at: datetime | None


class ShareResult(BaseModel):
    share: ShareOut
    already_shared: bool = False


def _expiry(args: ShareArgs) -> datetime | None:
    now = datetime.now(UTC)
    if args.expires_in_days is not None:
        return now + timedelta(days=args.expires_in_days)
    if args.expires_at is not None and args.expires_at <= now:
        raise RetryableToolError("expires_at must be in the future")
    return args.expires_at


def _share_out(row: SharedDocument, item: CreatorItem) -> ShareOut:
    return ShareOut(
        share_id=row.id, item_id=item.id, item_title=item.title,
        url_path=SHARE_PATH.format(token=row.share_token), permission=row.permission,
        password_protected=row.password_hash is not None, expires_at=row.expires_at,
    )


def _share_audit(row: SharedDocument) -> dict[str, Any]:
    return {**snapshot(row, ["creator_item_id", "permission", "expires_at"]),
            "password_protected": row.password_hash is not None}


@tool(
    risk=Risk.HIGH, title="Share creator item {item_id} by link",
    examples=("share the launch doc with a link that expires in a week",
              "give me a password-protected link to the pitch deck",
              "share the newsletter draft so people can comment"),
)
async def share_document(ctx: ToolContext, args: ShareArgs) -> ShareResult:
    """Create a share link for a creator studio item: anyone with the link can open it (view
    or comment), optionally only with a password and only until an expiry. Returns the link's
    path; the password is never shown again."""
    items = CreatorItemRepository(ctx.session, ctx.scope)
    shares = SharedDocumentRepository(ctx.session, ctx.scope)
    item = await items.get(args.item_id)
    earlier = await replayed(ctx, "share", "shared_document")
    if earlier is not None:
        return ShareResult(share=_share_out(await shares.get(earlier), item),
                           already_shared=True)
    row = await shares.share(
        item.id, permission=args.permission, password=args.password, expires_at=_expiry(args),
        created_by=ctx.caller.user_id,
    )
    await record_change(ctx, "share", "shared_document", row.id, after=_share_audit(row))
    return ShareResult(share=_share_out(row, item))
