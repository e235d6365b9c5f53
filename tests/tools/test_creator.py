"""Creator studio tools against the real database: items from text or a template, listing,
collections and share links (password hashed, expiry); audit rows for every write, idempotent
retries, roles, bad arguments and other workspaces' ids."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

import tools.creator  # noqa: F401  (registers the tools)
from store.models.admin import AuditLog
from store.models.core import MemberRole
from store.models.creator import (
    CreatorCollection,
    CreatorCollectionItem,
    CreatorItem,
    CreatorItemStatus,
    CreatorItemType,
    SharedDocument,
    SharePermission,
)
from store.repositories.creator import (
    CreatorCollectionRepository,
    CreatorItemRepository,
    CreatorTemplateCatalog,
    SharedDocumentRepository,
)
from store.tenancy import scoped_session
from tests.conftest import WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit, row_counts, rows, unchanged
from tools.creator import text_blocks
from tools.errors import RetryableToolError, ToolFailed


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, int]:
    return await row_counts(sessions, ws, AuditLog, CreatorItem, CreatorCollection,
                            CreatorCollectionItem, SharedDocument)


async def seed_items(sessions: Sessions, ws: WorkspaceFixture, *titles: str) -> list[uuid.UUID]:
    async with scoped_session(sessions, ws.scope) as s:
        items = CreatorItemRepository(s, ws.scope)
        return [(await items.create(title=t)).id for t in titles]


def test_text_becomes_heading_and_paragraph_blocks() -> None:
    assert text_blocks("# Launch\nLine one\nline two\n\n## Why\nBecause.\n\n\n") == [
        {"type": "heading", "text": "Launch"},
        {"type": "paragraph", "text": "Line one\nline two"},
        {"type": "heading", "text": "Why"},
        {"type": "paragraph", "text": "Because."},
    ]
    assert text_blocks("") == []


async def test_create_creator_item_from_text_into_a_collection(
    sessions: Sessions, call_tool: CallTool,
    two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    ws, other = two
    async with scoped_session(sessions, ws.scope) as s:
        kit = await CreatorCollectionRepository(s, ws.scope).create(name="Kit")
    args = {"title": "May newsletter", "type": "newsletter", "text": "# Hello\nNews.",
            "collection_id": str(kit.id)}
    first = await call_tool(ws, "create_creator_item", args, key="k-item")
    again = await call_tool(ws, "create_creator_item", args, key="k-item")
    assert again.item.id == first.item.id and first.item.block_count == 2
    [item] = await rows(sessions, ws, CreatorItem)
    assert (item.type, item.status, item.created_by) == (
        CreatorItemType.NEWSLETTER, CreatorItemStatus.DRAFT, ws.user_id)
    assert item.content == {"blocks": text_blocks("# Hello\nNews.")}
    [collection] = await rows(sessions, ws, CreatorCollection)
    assert collection.item_count == 1
    assert [a.action for a in await audit(sessions, ws, "creator_item")] == ["create"]
    [added] = await audit(sessions, ws, "creator_collection")
    assert added.changes == {"item_id": {"before": None, "after": str(item.id)}}

    async with scoped_session(sessions, ws.scope) as s:
        template = await CreatorTemplateCatalog(s).create(
            name=f"Deck {uuid.uuid4().hex[:6]}", category="presentations",
            item_type=CreatorItemType.PRESENTATION, content={"blocks": [{"type": "heading",
                                                                         "text": "Slide 1"}]})
    deck = await call_tool(ws, "create_creator_item",
                           {"title": "Pitch", "template_id": str(template.id)})
    assert (deck.item.type, deck.item.block_count) == (CreatorItemType.PRESENTATION, 1)

    async with scoped_session(sessions, other.scope) as s:
        foreign = await CreatorCollectionRepository(s, other.scope).create(name="Theirs")
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "create_creator_item", {"title": "x"}, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no creator collection"):
            await call_tool(ws, "create_creator_item",
                            {"title": "x", "collection_id": str(foreign.id)})
        with pytest.raises(RetryableToolError, match="no creator template"):
            await call_tool(ws, "create_creator_item",
                            {"title": "x", "template_id": str(uuid.uuid4())})
        for bad in ({"title": ""}, {"title": "x", "type": "podcast"},
                    {"title": "x", "text": "t", "template_id": str(template.id)}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_creator_item", bad)


async def test_list_creator_items_filters_and_collection_order(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    first, second, third = await seed_items(sessions, ws, "Launch doc", "Launch deck", "Tips")
    async with scoped_session(sessions, ws.scope) as s:
        await CreatorItemRepository(s, ws.scope).publish(second)
        collections = CreatorCollectionRepository(s, ws.scope)
        kit = await collections.create(name="Kit")
        for item_id in (third, first):
            await collections.add_item(kit.id, item_id)
    async with scoped_session(sessions, other.scope) as s:
        foreign = await CreatorCollectionRepository(s, other.scope).create(name="Theirs")

    launch = await call_tool(ws, "list_creator_items", {"text": "launch"},
                             role=MemberRole.VIEWER)
    assert sorted(i.title for i in launch.items) == ["Launch deck", "Launch doc"]
    published = await call_tool(ws, "list_creator_items", {"status": "published"})
    assert [i.id for i in published.items] == [second]
    in_kit = await call_tool(ws, "list_creator_items", {"collection_id": str(kit.id)})
    assert [i.id for i in in_kit.items] == [third, first]
    one = await call_tool(ws, "list_creator_items", {"collection_id": str(kit.id), "limit": 1})
    assert one.has_more and not in_kit.has_more
    with pytest.raises(RetryableToolError, match="no creator collection"):
        await call_tool(ws, "list_creator_items", {"collection_id": str(foreign.id)})
    for bad in ({"limit": 0}, {"type": "podcast"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_creator_items", bad)


async def test_list_creator_templates_then_create_from_one(
    sessions: Sessions, call_tool: CallTool, two: tuple[WorkspaceFixture, WorkspaceFixture]
) -> None:
    ws, other = two
    category, word = f"cat-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex[:8]
    async with scoped_session(sessions, ws.scope) as s:
        catalog = CreatorTemplateCatalog(s)
        launch = await catalog.create(
            name=f"Launch {word} post", description="Announce a release.", category=category,
            item_type=CreatorItemType.SOCIAL_POST, usage_count=5,
            content={"blocks": [{"type": "paragraph", "text": "We shipped."}]})
        memo = await catalog.create(name="Memo", category=category)
        hidden = await catalog.create(name=f"Hidden {word} post", category=category,
                                      is_public=False)

    listed = await call_tool(ws, "list_creator_templates", {"category": category},
                             role=MemberRole.VIEWER)
    assert [(t.id, t.item_type, t.block_count) for t in listed.templates] == [
        (launch.id, CreatorItemType.SOCIAL_POST, 1), (memo.id, CreatorItemType.DOCUMENT, 0)]
    assert listed.templates[0].description == "Announce a release." and not listed.has_more
    found = await call_tool(ws, "list_creator_templates", {"text": f"POST {word}"})
    assert [t.id for t in found.templates] == [launch.id]  # every word, any case; not hidden
    one = await call_tool(ws, "list_creator_templates", {"category": category, "limit": 1})
    assert [t.id for t in one.templates] == [launch.id] and one.has_more
    theirs = await call_tool(other, "list_creator_templates", {"category": category})
    assert theirs == listed  # one catalogue, shared by every workspace

    made = await call_tool(ws, "create_creator_item",
                           {"title": "Ship it", "template_id": str(found.templates[0].id)})
    assert (made.item.type, made.item.block_count) == (CreatorItemType.SOCIAL_POST, 1)
    async with scoped_session(sessions, ws.scope) as s:
        assert (await CreatorTemplateCatalog(s).get(launch.id)).usage_count == 6
    with pytest.raises(RetryableToolError, match="no creator template"):
        await call_tool(ws, "create_creator_item",
                        {"title": "x", "template_id": str(hidden.id)})
    for bad in ({"limit": 0}, {"limit": 51}, {"text": "x" * 201}, {"type": "document"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_creator_templates", bad)


async def test_create_creator_collection_with_items_in_order(
    sessions: Sessions, call_tool: CallTool,
    two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    ws, other = two
    a, b = await seed_items(sessions, ws, "A", "B")
    [foreign] = await seed_items(sessions, other, "Theirs")
    args = {"name": "Q3 kit", "description": "Launch", "item_ids": [str(b), str(a), str(b)]}
    first = await call_tool(ws, "create_creator_collection", args, key="k-col")
    again = await call_tool(ws, "create_creator_collection", args, key="k-col")
    assert again.collection.id == first.collection.id
    assert first.collection.item_ids == [b, a] and first.collection.item_count == 2
    [collection] = await rows(sessions, ws, CreatorCollection)
    assert (collection.name, collection.created_by, collection.item_count) == (
        "Q3 kit", ws.user_id, 2)
    [created] = await audit(sessions, ws, "creator_collection")
    assert created.changes["item_ids"]["after"] == [str(b), str(a)]

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "create_creator_collection", {"name": "x"}, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match=str(foreign)):
            await call_tool(ws, "create_creator_collection",
                            {"name": "x", "item_ids": [str(a), str(foreign)]})
        for bad in ({"name": ""}, {"name": "x", "item_ids": ["nope"]}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_creator_collection", bad)


async def test_share_document_makes_a_protected_expiring_link_once(
    sessions: Sessions, call_tool: CallTool,
    two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    ws, other = two
    [item_id] = await seed_items(sessions, ws, "Pitch deck")
    [foreign] = await seed_items(sessions, other, "Theirs")
    args = {"item_id": str(item_id), "permission": "comment", "password": "s3cret-pass",
            "expires_in_days": 7}
    first = await call_tool(ws, "share_document", args, key="k-share")
    again = await call_tool(ws, "share_document", args, key="k-share")
    assert again.already_shared and again.share.share_id == first.share.share_id
    share = first.share
    assert share.password_protected and share.permission == SharePermission.COMMENT
    assert share.item_title == "Pitch deck" and share.url_path.startswith("/share/")
    assert share.expires_at is not None
    assert timedelta(days=6) < share.expires_at - datetime.now(UTC) <= timedelta(days=7)
    [row] = await rows(sessions, ws, SharedDocument)
    assert share.url_path == f"/share/{row.share_token}" and row.created_by == ws.user_id
    async with scoped_session(sessions, ws.scope) as s:
        links = SharedDocumentRepository(s, ws.scope)
        assert await links.verify_password(row, "s3cret-pass")
        assert not await links.verify_password(row, "wrong")
    [item] = await rows(sessions, ws, CreatorItem)
    assert item.share_count == 1
    [change] = await audit(sessions, ws, "shared_document")
    assert change.action == "share" and change.changes["password_protected"]["after"] is True
    assert "s3cret-pass" not in str(change.changes) and row.share_token not in str(change.changes)
    assert "s3cret-pass" not in first.model_dump_json()

    open_link = await call_tool(ws, "share_document", {"item_id": str(item_id)})
    assert not open_link.share.password_protected and open_link.share.expires_at is None

    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "share_document", args, role=MemberRole.VIEWER)
        with pytest.raises(RetryableToolError, match="no creator item"):
            await call_tool(ws, "share_document", {**args, "item_id": str(foreign)})
        past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        for bad in ({**args, "password": "abc"}, {**args, "expires_in_days": 0},
                    {"item_id": str(item_id), "expires_at": past},
                    {**args, "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "share_document", bad)
