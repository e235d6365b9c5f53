"""search_knowledge end to end: documents added by tools, embedded by the worker's handler,
found by words and meaning with citations; filters; graceful fallback to full text."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from store.models.core import MemberRole
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.knowledge.conftest import CountingEmbedder
from tests.tools.helpers import CallTool, Sessions
from tools.errors import RetryableToolError
from tools.jobs import JobContext
from tools.knowledge.embedder import EMBEDDER_SERVICE, LocalEmbedder
from tools.knowledge.indexing import embed_item

SECURITY = """# Security

## Encryption

Customer data is encrypted at rest with AES-256 and in transit with TLS 1.2.

## Audits

We are audited every year against SOC 2 Type II.
"""
TRAVEL = """# Travel Policy

## Flights

Book economy class for flights shorter than six hours.
"""


class BrokenEmbedder:
    name = "broken"
    dim = 384

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        raise ConnectionError("provider unreachable")


async def add(call_tool: CallTool, ws: WorkspaceFixture, name: str, content: str,
              **args: object) -> uuid.UUID:
    made = await call_tool(ws, "create_document", {"name": name, "content": content, **args})
    return made.item.id  # type: ignore[no-any-return]


async def embed_all(sessions: Sessions, ws: WorkspaceFixture, *ids: uuid.UUID) -> None:
    job = JobContext(sessions, datetime.now(UTC))
    for item_id in ids:
        await embed_item(job, ws.workspace_id, item_id)


async def test_hybrid_search_finds_by_meaning_and_words_with_citations(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
    embedder: LocalEmbedder,
) -> None:
    ws = await make_workspace()
    await call_tool(ws, "create_collection", {"name": "Policies"})
    security = await add(call_tool, ws, "Security overview", SECURITY, tags=["trust"])
    travel = await add(call_tool, ws, "Travel", TRAVEL, collection="Policies")
    await embed_all(sessions, ws, security, travel)

    found = await call_tool(ws, "search_knowledge",
                            {"query": "is my data scrambled on disk?"}, role=MemberRole.VIEWER)
    top = found.results[0]
    assert (top.item_id, top.title, top.chunk_index, top.heading) == (
        security, "Security overview", 0, "Security > Encryption")
    assert top.snippet.startswith("Customer data is encrypted at rest")
    assert found.mode == "hybrid" and found.note is None and "vector" in top.matched_by
    assert [r.score for r in found.results] == sorted((r.score for r in found.results),
                                                      reverse=True)

    coded = await call_tool(ws, "search_knowledge", {"query": "SOC 2", "k": 1})
    assert [(r.heading, r.matched_by) for r in coded.results] == [
        ("Security > Audits", ["text", "vector"])]
    meaning = await call_tool(ws, "search_knowledge",
                              {"query": "cheapest seat on a plane", "mode": "vector", "k": 1})
    assert [r.item_id for r in meaning.results] == [travel]
    assert meaning.results[0].matched_by == ["vector"]
    words = await call_tool(ws, "search_knowledge", {"query": "economy flights", "mode": "text"})
    assert [r.item_id for r in words.results] == [travel] and words.mode == "text"


async def test_filters_narrow_the_search(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    await call_tool(ws, "create_collection", {"name": "Policies"})
    security = await add(call_tool, ws, "Security overview", SECURITY, tags=["trust"])
    travel = await add(call_tool, ws, "Travel", TRAVEL, collection="Policies")
    page = (await call_tool(ws, "add_url_item", {
        "url": "https://trust.example.com", "text": "Our encryption keys rotate yearly."})).item.id
    await embed_all(sessions, ws, security, travel, page)
    query = "encryption and policies"

    async def items(**filters: object) -> set[uuid.UUID]:
        found = await call_tool(ws, "search_knowledge", {"query": query, "k": 20, **filters})
        return {r.item_id for r in found.results}

    assert await items() == {security, travel, page}
    assert await items(collection="policies") == {travel}
    assert await items(tag="TRUST") == {security}
    assert await items(type="url") == {page}
    assert await items(type="image") == set()
    for bad in ({"query": ""}, {"query": "x", "k": 0}, {"query": "x", "k": 21},
                {"query": "x", "mode": "fuzzy"}, {"query": "x", "tag": "unknown"}):
        with pytest.raises(RetryableToolError):
            await call_tool(ws, "search_knowledge", bad)


async def test_before_embedding_search_uses_words_and_says_so(
    call_tool: CallTool, make_workspace: MakeWorkspace,
) -> None:
    ws = await make_workspace()
    security = await add(call_tool, ws, "Security overview", SECURITY)
    found = await call_tool(ws, "search_knowledge", {"query": "how is data encrypted at rest"})
    assert [r.item_id for r in found.results][:1] == [security]
    assert all(r.matched_by == ["text"] for r in found.results)
    assert found.note is not None and "1 item(s) are still being indexed" in found.note


async def test_a_failing_embedder_degrades_to_full_text(
    sessions: Sessions, call_tool: CallTool, make_workspace: MakeWorkspace,
    counting: CountingEmbedder,
) -> None:
    ws = await make_workspace()
    security = await add(call_tool, ws, "Security overview", SECURITY)
    found = await call_tool(ws, "search_knowledge", {"query": "SOC 2 audits"},
                            services={EMBEDDER_SERVICE: BrokenEmbedder()})
    assert found.mode == "text" and "unavailable" in (found.note or "")
    assert [r.heading for r in found.results][:1] == ["Security > Audits"]
    # A configured embedder is the one whose vectors count: chunks embedded by another model
    # are not compared with its query vectors.
    await embed_all(sessions, ws, security)
    other = await call_tool(ws, "search_knowledge", {"query": "data encrypted", "mode": "vector"},
                            services={EMBEDDER_SERVICE: counting})
    assert other.results == [] and counting.texts == ["data encrypted"]
