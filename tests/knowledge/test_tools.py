"""Knowledge tools against the real database: each valid call changes what it says (with audit
rows and idempotent retries), bad arguments and refused roles change nothing, and another
workspace's ids are not found."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from store.models.admin import AuditLog
from store.models.core import MemberRole
from store.models.knowledge import (
    ItemStatus,
    ItemType,
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeItem,
    KnowledgeItemTag,
    KnowledgeTag,
)
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.tools.helpers import CallTool, Sessions, audit, rows, unchanged
from tools.errors import RetryableToolError, ToolFailed

REFUNDS = """# Refund Policy

## Monthly plans

Monthly subscriptions can be cancelled at any time; partial months are not refunded.

## Annual plans

Annual plans cancelled within 30 days of purchase are refunded in full.
"""


async def footprint(sessions: Sessions, ws: WorkspaceFixture) -> dict[str, Any]:
    """Everything the knowledge tools write, to prove a refused call wrote nothing."""
    items = await rows(sessions, ws, KnowledgeItem)
    counts = {m.__tablename__: len(await rows(sessions, ws, m)) for m in (
        KnowledgeChunk, KnowledgeCollection, KnowledgeTag, KnowledgeItemTag, AuditLog)}
    return {**counts, "items": sorted(
        (str(i.id), i.name, i.status, i.collection_id, i.checksum, i.chunk_count) for i in items)}


async def add_doc(
    call_tool: CallTool, ws: WorkspaceFixture, *, role: MemberRole = MemberRole.OWNER,
    **args: Any,
) -> Any:
    values = {"name": "Refund policy", "content": REFUNDS, **args}
    return (await call_tool(ws, "create_document", values, role=role)).item


# -- creating -------------------------------------------------------------------------------


async def test_create_document_stores_chunks_in_the_same_call_and_retries_once(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    args = {"name": "Refund policy", "content": REFUNDS, "tags": ["billing", "policy"]}
    first = await call_tool(ws, "create_document", args, key="k-doc", role=MemberRole.MEMBER)
    again = await call_tool(ws, "create_document", args, key="k-doc")
    assert again.item.id == first.item.id
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert (item.name, item.type, item.status, item.created_by) == (
        "Refund policy", ItemType.DOCUMENT, ItemStatus.PROCESSING, ws.user_id)
    assert (item.mime_type, item.chunk_count, item.content) == ("text/markdown", 2, REFUNDS)
    assert first.item.tags == ["billing", "policy"] and first.item.collection == "General"
    chunks = sorted(await rows(sessions, ws, KnowledgeChunk), key=lambda c: c.chunk_index)
    assert [c.heading for c in chunks] == ["Refund Policy > Monthly plans",
                                           "Refund Policy > Annual plans"]
    assert all(c.embedding is None for c in chunks)  # the worker embeds later
    [created] = await audit(sessions, ws, "knowledge_item")
    assert created.action == "create" and created.changes["tags"]["after"] == [
        "billing", "policy"]
    assert len(await audit(sessions, ws, "knowledge_tag")) == 2
    assert len(await audit(sessions, ws, "knowledge_collection")) == 1  # "General", made now
    found = await call_tool(ws, "search_knowledge", {"query": "refunded in full"})
    assert [(p.title, p.heading) for p in found.results][:1] == [
        ("Refund policy", "Refund Policy > Annual plans")]


async def test_create_document_renders_html_and_refuses_bad_arguments(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    html = ("<html><head><script>track()</script></head><body><nav>Home</nav>"
            "<h1>Hours</h1><p>Open 9 to 5.</p></body></html>")
    made = await add_doc(call_tool, ws, name="Hours", content=html, format="html")
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert item.content == "# Hours\n\nOpen 9 to 5.\n" and item.meta == {"format": "html"}
    assert made.chunk_count == 1
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await add_doc(call_tool, ws, role=MemberRole.VIEWER)
        for bad in ({"name": "", "content": "x"}, {"name": "x", "content": ""},
                    {"name": "x", "content": "y", "format": "pdf"},
                    {"name": "x", "content": "y", "tags": [""]},
                    {"name": "x", "content": "y", "workspace_id": str(uuid.uuid4())}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_document", bad)
        with pytest.raises(RetryableToolError, match="no knowledge collection 'Nope'"):
            await add_doc(call_tool, ws, collection="Nope")


async def test_add_url_item_keeps_the_url_fetches_nothing_and_returns_a_known_url(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    await call_tool(ws, "create_collection", {"name": "Docs site"})
    args = {"url": "https://docs.example.com/sso", "text": "SSO needs the Enterprise plan.",
            "collection": "docs site", "tags": ["sso"]}
    first = await call_tool(ws, "add_url_item", args)
    assert (first.item.type, first.item.name, first.item.collection) == (
        ItemType.URL, "https://docs.example.com/sso", "Docs site")
    again = await call_tool(ws, "add_url_item", {**args, "text": "other"})
    assert again.already_added and again.item.id == first.item.id
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert (item.source_url, item.mime_type, item.chunk_count) == (
        "https://docs.example.com/sso", "text/plain", 1)
    assert len(await audit(sessions, ws, "knowledge_item")) == 1
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "add_url_item", args, role=MemberRole.VIEWER)
        for bad in ({"url": "not a url", "text": "x"}, {"url": "https://a.example", "text": ""}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "add_url_item", bad)


# -- collections ----------------------------------------------------------------------------


async def test_collections_are_created_once_and_listed_with_counts(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    made = await call_tool(ws, "create_collection", {"name": "Playbook", "description": "Sales"},
                           key="k-col")
    assert (await call_tool(ws, "create_collection", {"name": "Playbook"}, key="k-col")
            ).collection.id == made.collection.id
    same = await call_tool(ws, "create_collection", {"name": " playbook"})
    assert same.already_existed and same.collection.id == made.collection.id
    await add_doc(call_tool, ws, collection="Playbook")
    await add_doc(call_tool, ws)
    listed = await call_tool(ws, "list_collections", {}, role=MemberRole.VIEWER)
    assert [(c.name, c.item_count, c.is_default) for c in listed.collections] == [
        ("General", 1, True), ("Playbook", 1, False)]
    assert not listed.has_more
    assert (await call_tool(ws, "list_collections", {"limit": 1})).has_more
    assert len(await audit(sessions, ws, "knowledge_collection")) == 2
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "create_collection", {"name": "X"}, role=MemberRole.VIEWER)
        for bad in ({"name": ""}, {"name": "x" * 101}, {}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "create_collection", bad)
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_collections", {"limit": 0})


# -- reading and listing --------------------------------------------------------------------


async def test_get_knowledge_item_pages_through_content(
    call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    item = await add_doc(call_tool, ws)
    read = await call_tool(ws, "get_knowledge_item", {"item_id": str(item.id), "max_chars": 100},
                           role=MemberRole.VIEWER)
    assert read.content == REFUNDS[:100] and read.has_more and read.total_chars == len(REFUNDS)
    assert read.sections == ["Refund Policy > Monthly plans", "Refund Policy > Annual plans"]
    rest = await call_tool(ws, "get_knowledge_item", {"item_id": str(item.id), "offset": 100})
    assert read.content + rest.content == REFUNDS and not rest.has_more
    for bad in ({"item_id": "nope"}, {"item_id": str(item.id), "max_chars": 5}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "get_knowledge_item", bad)


async def test_list_knowledge_items_filters(
    call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    await call_tool(ws, "create_collection", {"name": "Help"})
    doc = await add_doc(call_tool, ws, collection="Help", tags=["billing"])
    page = (await call_tool(ws, "add_url_item", {"url": "https://x.example/a", "text": "A."})
            ).item
    listed = await call_tool(ws, "list_knowledge_items", {}, role=MemberRole.VIEWER)
    assert [i.id for i in listed.items] == [page.id, doc.id] and not listed.has_more
    assert [i.id for i in (await call_tool(ws, "list_knowledge_items", {"limit": 1})).items] == [
        page.id]
    for filters, expected in (({"tag": "Billing"}, [doc.id]), ({"collection": "help"}, [doc.id]),
                              ({"type": "url"}, [page.id]), ({"text": "refund"}, [doc.id]),
                              ({"status": "ready"}, [])):
        found = await call_tool(ws, "list_knowledge_items", filters)
        assert [i.id for i in found.items] == expected, filters
    for bad in ({"tag": "nope"}, {"status": "done"}, {"limit": 51}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "list_knowledge_items", bad)


# -- changing -------------------------------------------------------------------------------


async def test_update_knowledge_item_renames_moves_and_reindexes_new_content(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    item = await add_doc(call_tool, ws)
    await call_tool(ws, "create_collection", {"name": "Policies"})
    [before] = await rows(sessions, ws, KnowledgeItem)
    renamed = await call_tool(ws, "update_knowledge_item", {
        "item_id": str(item.id), "name": "Refunds", "collection": "Policies"})
    assert (renamed.item.name, renamed.item.collection) == ("Refunds", "Policies")
    [same] = await rows(sessions, ws, KnowledgeItem)
    assert same.checksum == before.checksum
    new_text = "Refunds are handled by the billing team within 10 days."
    await call_tool(ws, "update_knowledge_item", {"item_id": str(item.id), "content": new_text,
                                                  "format": "text"})
    [after] = await rows(sessions, ws, KnowledgeItem)
    assert (after.content, after.mime_type, after.chunk_count) == (new_text, "text/plain", 1)
    assert after.checksum != before.checksum and after.status == ItemStatus.PROCESSING
    [chunk] = await rows(sessions, ws, KnowledgeChunk)
    assert chunk.content == new_text and chunk.heading is None
    trail = [(a.action, sorted(a.changes)) for a in await audit(sessions, ws, "knowledge_item")]
    assert ("update", ["collection_id", "name"]) in trail
    assert ("update", ["checksum", "chunk_count", "mime_type"]) in trail
    async with unchanged(footprint, sessions, ws):
        with pytest.raises(ToolFailed):
            await call_tool(ws, "update_knowledge_item", {"item_id": str(item.id), "name": "x"},
                            role=MemberRole.VIEWER)
        for bad in ({"item_id": str(item.id)},
                    {"item_id": str(item.id), "format": "html"},
                    {"item_id": str(item.id), "name": ""}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "update_knowledge_item", bad)
        with pytest.raises(RetryableToolError, match="no knowledge collection"):
            await call_tool(ws, "update_knowledge_item",
                            {"item_id": str(item.id), "collection": "Missing"})


async def test_tag_item_attaches_and_detaches_with_audit(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    item = await add_doc(call_tool, ws, tags=["billing"])
    tagged = await call_tool(ws, "tag_item", {"item_id": str(item.id),
                                              "tags": ["Policy", "billing"]})
    assert tagged.item.tags == ["Policy", "billing"]  # by name, as the database sorts
    untagged = await call_tool(ws, "tag_item", {"item_id": str(item.id), "tags": ["BILLING"],
                                                "remove": True})
    assert untagged.item.tags == ["Policy"]
    trail = [(a.changes["tags"]["before"], a.changes["tags"]["after"])
             for a in await audit(sessions, ws, "knowledge_item") if a.action == "update"]
    assert sorted(trail) == sorted([(["billing"], ["Policy", "billing"]),
                                    (["Policy", "billing"], ["Policy"])])
    async with unchanged(footprint, sessions, ws):
        await call_tool(ws, "tag_item", {"item_id": str(item.id), "tags": ["policy"]})  # no-op
        with pytest.raises(ToolFailed):
            await call_tool(ws, "tag_item", {"item_id": str(item.id), "tags": ["x"]},
                            role=MemberRole.VIEWER)
        for bad in ({"item_id": str(item.id), "tags": []},
                    {"item_id": str(item.id), "tags": ["x" * 51]}, {"tags": ["x"]}):
            with pytest.raises(RetryableToolError):
                await call_tool(ws, "tag_item", bad)


async def test_delete_knowledge_item_removes_chunks_and_links_once(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    item = await add_doc(call_tool, ws, tags=["billing"])
    keep = await add_doc(call_tool, ws, name="Keep")
    async with unchanged(footprint, sessions, ws):
        for role in (MemberRole.VIEWER,):
            with pytest.raises(ToolFailed):
                await call_tool(ws, "delete_knowledge_item", {"item_id": str(item.id)}, role=role)
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "delete_knowledge_item", {"item_id": "x"})
    done = await call_tool(ws, "delete_knowledge_item", {"item_id": str(item.id)}, key="k-del")
    again = await call_tool(ws, "delete_knowledge_item", {"item_id": str(item.id)}, key="k-del")
    assert (done.name, again.already_deleted) == ("Refund policy", True)
    assert [i.id for i in await rows(sessions, ws, KnowledgeItem)] == [keep.id]
    assert {c.item_id for c in await rows(sessions, ws, KnowledgeChunk)} == {keep.id}
    assert await rows(sessions, ws, KnowledgeItemTag) == []
    [deleted] = [a for a in await audit(sessions, ws, "knowledge_item") if a.action == "delete"]
    assert deleted.changes["name"] == {"before": "Refund policy", "after": None}
    with pytest.raises(RetryableToolError, match="no knowledge item"):
        await call_tool(ws, "delete_knowledge_item", {"item_id": str(item.id)})


# -- other workspaces -----------------------------------------------------------------------


async def test_another_workspaces_items_are_not_found_and_nothing_is_written(
    sessions: Sessions, call_tool: CallTool,
    two: tuple[WorkspaceFixture, WorkspaceFixture],
) -> None:
    a, b = two
    theirs = await add_doc(call_tool, b, tags=["secret"])
    await call_tool(b, "create_collection", {"name": "Theirs"})
    calls: Sequence[tuple[str, dict[str, Any]]] = (
        ("get_knowledge_item", {"item_id": str(theirs.id)}),
        ("update_knowledge_item", {"item_id": str(theirs.id), "name": "mine"}),
        ("tag_item", {"item_id": str(theirs.id), "tags": ["mine"]}),
        ("delete_knowledge_item", {"item_id": str(theirs.id)}),
        ("list_knowledge_items", {"tag": "secret"}),
        ("list_knowledge_items", {"collection": "Theirs"}),
        ("search_knowledge", {"query": "refund", "collection": "Theirs"}),
    )
    async with unchanged(footprint, sessions, a, b):
        for name, args in calls:
            with pytest.raises(RetryableToolError, match="no knowledge"):
                await call_tool(a, name, args)
        found = await call_tool(a, "search_knowledge", {"query": "refund annual plans"})
        assert found.results == []
