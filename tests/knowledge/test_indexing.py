"""Indexing and the embedding handler: chunks at once, vectors inline or by the worker, due
work, re-embedding after a model change, two concurrent runs embedding once, and a filtered
vector search that still returns k rows beside a crowded workspace."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from store.models.knowledge import ItemStatus, KnowledgeChunk, KnowledgeItem
from store.repositories.knowledge import ChunkInput, ChunkRepository, ItemRepository
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, WorkspaceFixture
from tests.knowledge.conftest import CountingEmbedder
from tests.tools.helpers import Sessions, rows
from tools.jobs import JobContext
from tools.knowledge.embedder import EMBEDDER_SERVICE, LocalEmbedder
from tools.knowledge.indexing import EMBED_KIND, embed_item, index_item

GUIDE = ("# Guide\n\n## Setup\n\nInvite admins first.\n\n"
         "## Rollout\n\nTrain the team in week three.\n")


async def add_item(
    sessions: Sessions, ws: WorkspaceFixture, content: str = GUIDE,
    embedder: LocalEmbedder | CountingEmbedder | None = None,
) -> uuid.UUID:
    async with scoped_session(sessions, ws.scope) as s:
        row = await ItemRepository(s, ws.scope).create(name="Guide", content=content,
                                                       mime_type="text/markdown")
        await index_item(s, ws.scope, row, embedder)
    return row.id


def job(sessions: Sessions, embedder: object) -> JobContext:
    return JobContext(sessions, datetime.now(UTC), {EMBEDDER_SERVICE: embedder})


async def due(sessions: Sessions, model: str) -> set[tuple[str, uuid.UUID, uuid.UUID]]:
    """What neptune_due_work lists for this embedding model (all kinds, all workspaces)."""
    async with sessions() as s:
        found = await s.execute(
            sa.text("SELECT kind, workspace_id, record_id FROM neptune_due_work(:at, :m, :n)"),
            {"at": datetime.now(UTC), "m": model, "n": 100_000},
        )
        return {(kind, ws, rec) for kind, ws, rec in found}


async def stale(sessions: Sessions, ws: WorkspaceFixture, item_id: uuid.UUID, model: str) -> int:
    """The item's chunks without a vector from `model`: what makes it due work for `model`."""
    async with scoped_session(sessions, ws.scope) as s:
        return await ChunkRepository(s, ws.scope).count_stale(item_id, model)


async def chunk_models(sessions: Sessions, ws: WorkspaceFixture) -> list[str | None]:
    return [c.embedding_model for c in await rows(sessions, ws, KnowledgeChunk)]


async def test_index_without_embedder_then_the_handler_embeds_and_marks_ready(
    sessions: Sessions, make_workspace: MakeWorkspace, counting: CountingEmbedder,
) -> None:
    ws = await make_workspace()
    item_id = await add_item(sessions, ws)
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert (item.status, item.chunk_count, item.last_indexed_at) == (ItemStatus.PROCESSING, 2, None)
    assert await chunk_models(sessions, ws) == [None, None]
    async with scoped_session(sessions, ws.scope) as s:  # words are searchable at once
        hits = await ChunkRepository(s, ws.scope).text_search("train team")
    assert [h.chunk.heading for h in hits] == ["Guide > Rollout"]
    assert await stale(sessions, ws, item_id, counting.name) == 2

    await embed_item(job(sessions, counting), ws.workspace_id, item_id)
    assert len(counting.texts) == 2
    assert await chunk_models(sessions, ws) == [counting.name] * 2
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert item.status == ItemStatus.READY and item.last_indexed_at is not None
    assert await stale(sessions, ws, item_id, counting.name) == 0
    await embed_item(job(sessions, counting), ws.workspace_id, item_id)  # nothing left to do
    assert len(counting.texts) == 2


async def test_inline_embedding_makes_the_item_ready_at_once(
    sessions: Sessions, make_workspace: MakeWorkspace, embedder: LocalEmbedder,
) -> None:
    ws = await make_workspace()
    item_id = await add_item(sessions, ws, embedder=embedder)
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert item.status == ItemStatus.READY and item.checksum is not None
    assert await chunk_models(sessions, ws) == [embedder.name] * 2
    assert await stale(sessions, ws, item_id, embedder.name) == 0
    empty = await add_item(sessions, ws, content="   ")
    async with scoped_session(sessions, ws.scope) as s:
        blank = await ItemRepository(s, ws.scope).get(empty)
    assert (blank.status, blank.chunk_count) == (ItemStatus.READY, 0)


async def test_a_new_embedder_name_makes_chunks_due_and_the_handler_re_embeds(
    sessions: Sessions, make_workspace: MakeWorkspace, embedder: LocalEmbedder,
) -> None:
    ws = await make_workspace()
    item_id = await add_item(sessions, ws, embedder=embedder)
    [before] = await rows(sessions, ws, KnowledgeItem)
    successor = CountingEmbedder(embedder, name="minilm-v2")
    assert await stale(sessions, ws, item_id, successor.name) == 2
    await embed_item(job(sessions, successor), ws.workspace_id, item_id)
    assert len(successor.texts) == 2
    assert await chunk_models(sessions, ws) == ["minilm-v2"] * 2
    [after] = await rows(sessions, ws, KnowledgeItem)
    assert after.status == ItemStatus.READY
    assert after.last_indexed_at > before.last_indexed_at
    assert await stale(sessions, ws, item_id, successor.name) == 0


async def test_neptune_due_work_lists_items_whose_chunks_lack_the_current_model(
    sessions: Sessions, make_workspace: MakeWorkspace, embedder: LocalEmbedder,
) -> None:
    ws = await make_workspace()
    pending = await add_item(sessions, ws)
    embedded = await add_item(sessions, ws, embedder=embedder)
    listed = await due(sessions, embedder.name)
    assert (EMBED_KIND, ws.workspace_id, pending) in listed
    assert (EMBED_KIND, ws.workspace_id, embedded) not in listed
    assert (EMBED_KIND, ws.workspace_id, embedded) in await due(sessions, "another-model")


async def test_two_concurrent_runs_embed_each_chunk_once(
    sessions: Sessions, make_workspace: MakeWorkspace, counting: CountingEmbedder,
) -> None:
    ws = await make_workspace()
    sections = "".join(f"## Part {i}\n\nStep {i} of the rollout.\n\n" for i in range(6))
    item_id = await add_item(sessions, ws, content=f"# Plan\n\n{sections}")
    counting.gate = asyncio.Event()
    first = asyncio.create_task(embed_item(job(sessions, counting), ws.workspace_id, item_id))
    await asyncio.wait_for(counting.entered.wait(), 10)  # first holds the claimed chunks
    second = embed_item(job(sessions, counting), ws.workspace_id, item_id)
    await asyncio.wait_for(second, 10)  # skips the locked chunks instead of waiting
    assert len(counting.texts) == 6
    counting.gate.set()
    await asyncio.wait_for(first, 30)
    assert len(counting.texts) == 6
    assert await chunk_models(sessions, ws) == [counting.name] * 6
    [item] = await rows(sessions, ws, KnowledgeItem)
    assert item.status == ItemStatus.READY


async def test_handler_for_a_deleted_item_does_nothing(
    sessions: Sessions, make_workspace: MakeWorkspace, counting: CountingEmbedder,
) -> None:
    ws = await make_workspace()
    item_id = await add_item(sessions, ws)
    async with scoped_session(sessions, ws.scope) as s:
        await ItemRepository(s, ws.scope).delete(item_id)
    await embed_item(job(sessions, counting), ws.workspace_id, item_id)
    assert counting.texts == []


def near(query: list[float], rng: random.Random, spread: float) -> list[float]:
    return [q + rng.gauss(0, spread) for q in query]


async def test_a_filtered_vector_search_returns_k_rows_beside_a_crowded_workspace(
    sessions: Sessions, make_workspace: MakeWorkspace,
) -> None:
    """B holds 2,000 chunks nearer the query than any of A's 12. The HNSW scan meets only B's
    rows in its first `ef_search` candidates; iterative scanning keeps going until A has k."""
    a, b = await make_workspace(), await make_workspace()
    rng = random.Random(4)
    query = [rng.gauss(0, 1) for _ in range(384)]
    async with scoped_session(sessions, b.scope) as s:
        crowd = await ItemRepository(s, b.scope).create(name="Crowd")
        await ChunkRepository(s, b.scope).replace_for_item(crowd.id, [
            ChunkInput(f"near {i}", 2, embedding=near(query, rng, 0.3)) for i in range(2000)
        ], embedding_model="m")
    async with scoped_session(sessions, a.scope) as s:
        ours = await ItemRepository(s, a.scope).create(name="Ours")
        await ChunkRepository(s, a.scope).replace_for_item(ours.id, [
            ChunkInput(f"far {i}", 2, embedding=near(query, rng, 3.0)) for i in range(12)
        ], embedding_model="m")
    async with scoped_session(sessions, a.scope) as s:
        await s.execute(sa.text("SET LOCAL enable_seqscan = off"))  # take the HNSW index
        await s.execute(sa.text("SET LOCAL enable_bitmapscan = off"))
        await s.execute(sa.text("SET LOCAL enable_sort = off"))
        chunks = ChunkRepository(s, a.scope)
        hits = await chunks.vector_search(query, k=10, embedding_model="m")
        assert len(hits) == 10 and {h.citation.item_id for h in hits} == {ours.id}
        await s.execute(sa.text("SET LOCAL hnsw.iterative_scan = off"))  # what it prevents
        plain = (await s.execute(sa.text(
            "SELECT id FROM knowledge_chunks WHERE workspace_id = :ws AND embedding_dim = 384 "
            "ORDER BY embedding::vector(384) <=> CAST(:q AS vector) LIMIT 10"),
            {"ws": a.workspace_id, "q": str(query)})).all()
        assert len(plain) < 10
