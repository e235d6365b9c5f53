"""Knowledge repositories and hybrid search against the real database (pgvector + full text)."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.demo import knowledge as knowledge_demo
from store.errors import Conflict, InvalidArgument, NotFound
from store.models.knowledge import ItemStatus
from store.repositories.knowledge import (
    ChunkInput,
    ChunkRepository,
    CollectionRepository,
    ItemRepository,
    SearchHit,
    TagRepository,
    reciprocal_rank_fusion,
)
from store.tenancy import scoped_session
from tests.conftest import MakeWorkspace, demo_context

Sessions = async_sessionmaker[AsyncSession]
MODEL = "bge-small-en"


def vec(*weights: float, dim: int = 384) -> list[float]:
    """A hand-made vector: the given leading values, zeros after."""
    return [*weights, *([0.0] * (dim - len(weights)))]


async def add_doc(
    s: AsyncSession, ws: Any, name: str, chunks: list[tuple[str, list[float] | None]],
    collection_id: uuid.UUID | None = None,
) -> uuid.UUID:
    item = await ItemRepository(s, ws.scope).create(name=name, collection_id=collection_id)
    await ChunkRepository(s, ws.scope).replace_for_item(
        item.id,
        [ChunkInput(text, token_count=len(text.split()), embedding=e) for text, e in chunks],
        embedding_model=MODEL,
    )
    return item.id


# -- collections, items, tags -----------------------------------------------------------------
async def test_collections_default_search_and_uniqueness(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        repo = CollectionRepository(s, ws.scope)
        default = await repo.default(created_by=ws.user_id)
        assert default.is_default and default.name == "General"
        assert (await repo.default()).id == default.id
        policies = await repo.create(name="Policies", description="Refunds and security")
        assert (await repo.by_name("  policies ")).id == policies.id  # type: ignore[union-attr]
        assert [c.id for c in (await repo.search("refunds")).items] == [policies.id]
        assert [c.name for c in (await repo.search()).items] == ["General", "Policies"]
        assert (await repo.by_name("nope")) is None
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await CollectionRepository(s, ws.scope).create(name="Policies")
    with pytest.raises(Conflict):
        async with scoped_session(sessions, ws.scope) as s:
            await CollectionRepository(s, ws.scope).create(name="Second", is_default=True)
    fresh = await make_workspace()
    async with scoped_session(sessions, fresh.scope) as s:
        await CollectionRepository(s, fresh.scope).create(name="General")
        with pytest.raises(Conflict):
            await CollectionRepository(s, fresh.scope).default()


async def test_items_keep_collection_counts_and_search(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        collections = CollectionRepository(s, ws.scope)
        a = await collections.create(name="A")
        b = await collections.create(name="B")
        items = ItemRepository(s, ws.scope)
        faq = await items.create(name="Product FAQ", collection_id=a.id, checksum="c" * 64)
        ids = await items.create_many([
            {"name": "Refund policy", "collection_id": a.id, "status": ItemStatus.READY},
            {"name": "Site", "collection_id": b.id, "source_url": "https://docs.example.com/faq"},
        ])
        assert (await collections.get(a.id)).item_count == 2
        assert (await collections.get(b.id)).item_count == 1
        await items.update(faq.id, collection_id=b.id)
        assert [(await collections.get(c)).item_count for c in (a.id, b.id)] == [1, 2]

        assert {i.id for i in (await items.search("faq")).items} == {faq.id, ids[1]}
        assert [i.id for i in (await items.search(status=ItemStatus.READY)).items] == [ids[0]]
        assert {i.id for i in (await items.search(collection_id=b.id)).items} == {faq.id, ids[1]}
        assert (await items.by_checksum("c" * 64)).id == faq.id  # type: ignore[union-attr]
        assert await items.by_checksum("d" * 64) is None
        ready = await items.mark_ready(faq.id)
        assert ready.status == ItemStatus.READY and ready.last_indexed_at is not None
        failed = await items.mark_failed(ids[1], "could not fetch URL")
        assert failed.status == ItemStatus.FAILED and failed.error == "could not fetch URL"

        await items.delete(faq.id)
        assert (await collections.get(b.id)).item_count == 1
        with pytest.raises(NotFound):
            await items.get(faq.id)
        await collections.delete(a.id)
        assert await items.find(ids[0]) is None  # items go with their collection
        with pytest.raises(InvalidArgument):
            await items.archive(ids[1])


async def test_tags_link_count_and_filter(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        items, tags = ItemRepository(s, ws.scope), TagRepository(s, ws.scope)
        refund = await items.create(name="Refund policy")
        pricing = await items.create(name="Pricing")
        billing = await tags.get_or_create("Billing", color="#16a34a")
        assert (await tags.get_or_create(" billing ")).id == billing.id
        policy = await tags.get_or_create("policy")
        await tags.tag(refund.id, billing.id)
        await tags.tag(refund.id, billing.id)  # idempotent
        await tags.tag(refund.id, policy.id)
        await tags.tag(pricing.id, billing.id)
        assert (await tags.get(billing.id)).item_count == 2
        assert [t.name for t in await tags.for_item(refund.id)] == ["Billing", "policy"]
        assert [i.id for i in (await items.search(tag_id=policy.id)).items] == [refund.id]
        assert await tags.untag(refund.id, policy.id)
        assert not await tags.untag(refund.id, policy.id)
        assert (await tags.get(policy.id)).item_count == 0
        await items.delete(refund.id)
        assert (await tags.get(billing.id)).item_count == 1
        with pytest.raises(InvalidArgument):
            await tags.get_or_create("  ")
    with pytest.raises(NotFound, match="knowledge item"):
        async with scoped_session(sessions, ws.scope) as s:
            await TagRepository(s, ws.scope).tag(uuid.uuid4(), billing.id)


async def test_other_workspace_ids_are_not_found(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, a.scope) as s:
        collection = await CollectionRepository(s, a.scope).create(name="Private")
        item = await ItemRepository(s, a.scope).create(name="Secret", collection_id=collection.id)
        tag = await TagRepository(s, a.scope).get_or_create("secret")
    async with scoped_session(sessions, b.scope) as s:
        with pytest.raises(NotFound):
            await CollectionRepository(s, b.scope).get(collection.id)
        with pytest.raises(NotFound):
            await ItemRepository(s, b.scope).update(item.id, name="mine")
        with pytest.raises(NotFound):
            await ChunkRepository(s, b.scope).replace_for_item(item.id, [ChunkInput("x", 1)])
        assert await TagRepository(s, b.scope).for_item(item.id) == []
    with pytest.raises(NotFound):
        async with scoped_session(sessions, b.scope) as s:
            await ItemRepository(s, b.scope).create(name="Intrude", collection_id=collection.id)
    with pytest.raises(NotFound):
        async with scoped_session(sessions, b.scope) as s:
            mine = await ItemRepository(s, b.scope).create(name="Mine")
            await TagRepository(s, b.scope).tag(mine.id, tag.id)


# -- chunks -----------------------------------------------------------------------------------
async def test_replace_chunks_and_embeddings(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        items, chunks = ItemRepository(s, ws.scope), ChunkRepository(s, ws.scope)
        item = await items.create(name="Guide")
        await chunks.replace_for_item(item.id, [ChunkInput("old one", 2), ChunkInput("old two", 2)])
        new_ids = await chunks.replace_for_item(item.id, [
            ChunkInput("Week 1: invite admins", 5, heading="Week 1", location={"page": 1}),
            ChunkInput("Week 2: first workflow", 5, heading="Week 2"),
            ChunkInput("Week 3: rollout", 4),
        ])
        rows = await chunks.for_item(item.id)
        assert [c.id for c in rows] == new_ids and [c.chunk_index for c in rows] == [0, 1, 2]
        assert rows[0].heading == "Week 1" and rows[0].location == {"page": 1}
        assert (await items.get(item.id)).chunk_count == 3
        assert {c.id for c in await chunks.without_embedding()} == set(new_ids)
        await chunks.set_embeddings([(new_ids[0], vec(1.0)), (new_ids[1], vec(0.0, 1.0))], MODEL)
        embedded = await chunks.get(new_ids[0])
        assert embedded.embedding_dim == 384 and embedded.embedding_model == MODEL
        assert embedded.embedding is not None and embedded.embedding[0] == pytest.approx(1.0)
        assert [c.id for c in await chunks.without_embedding()] == [new_ids[2]]
        with pytest.raises(InvalidArgument):
            await chunks.replace_for_item(item.id, [ChunkInput("x", 1, embedding=[1.0])])
        with pytest.raises(InvalidArgument):
            await chunks.set_embeddings([(new_ids[2], [])], MODEL)
    with pytest.raises(InvalidArgument):  # the dimension must be the vector's
        async with scoped_session(sessions, ws.scope) as s:
            await ChunkRepository(s, ws.scope).update(new_ids[2], embedding=vec(1.0),
                                                      embedding_dim=1536, embedding_model=MODEL)


# -- search -----------------------------------------------------------------------------------
async def test_vector_search_returns_nearest_chunks(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        help_center = await CollectionRepository(s, ws.scope).create(name="Help")
        refunds = await add_doc(s, ws, "Refund policy", [
            ("Annual plans are refunded within 30 days.", vec(1.0, 0.1)),
            ("Monthly plans are not refunded.", vec(0.7, 0.7)),
        ], collection_id=help_center.id)
        security = await add_doc(s, ws, "Security", [
            ("Data is encrypted at rest.", vec(0.0, 1.0)),
            # slightly opposed to (1, 0, 0) so it never ties with chunk 0 for third place
            ("SSO on Enterprise.", vec(-0.1, 0.0, 1.0)),
        ])
        await add_doc(s, ws, "Big model", [("Same direction, 1536 dims.", vec(1.0, dim=1536))])
        await add_doc(s, ws, "Pending", [("No embedding yet.", None)])
        chunks = ChunkRepository(s, ws.scope)

        hits = await chunks.vector_search(vec(1.0), k=3, embedding_model=MODEL)
        assert [(h.item_name, h.citation.chunk_index) for h in hits] == [
            ("Refund policy", 0), ("Refund policy", 1), ("Security", 0)]
        assert hits[0].citation.item_id == refunds and hits[0].vector_rank == 1
        assert hits[0].score == pytest.approx(0.995, abs=0.001)
        assert hits[1].score == pytest.approx(0.7071, abs=0.001)
        assert hits[2].score == pytest.approx(0.0, abs=1e-6)
        near_security = await chunks.vector_search(vec(0.0, 1.0), k=1)
        assert near_security[0].citation.item_id == security
        in_help = await chunks.vector_search(vec(0.0, 0.0, 1.0), k=5, collection_id=help_center.id)
        assert {h.citation.item_id for h in in_help} == {refunds}
        only = await chunks.vector_search(vec(1.0, 0.0, 0.3), k=5, item_ids=[security])
        assert [h.citation.chunk_index for h in only] == [1, 0]
        assert await chunks.vector_search(vec(1.0), k=5, embedding_model="other-model") == []
        big = await chunks.vector_search(vec(1.0, dim=1536), k=5)
        assert [h.item_name for h in big] == ["Big model"]
        with pytest.raises(InvalidArgument):
            await chunks.vector_search([], k=3)
        with pytest.raises(InvalidArgument):
            await chunks.vector_search(vec(1.0), k=0)


async def test_text_and_hybrid_search_rank_exact_keyword_match(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        await add_doc(s, ws, "Security", [
            ("We are SOC 2 Type II audited every year.", vec(0.2, 1.0)),
        ])
        await add_doc(s, ws, "Compliance FAQ", [
            ("Our compliance programme covers audits and certifications.", vec(1.0, 0.0)),
            ("Customers can request reports from the trust portal.", vec(0.9, 0.3)),
        ])
        chunks = ChunkRepository(s, ws.scope)

        text = await chunks.text_search("SOC 2 audited")
        assert [h.item_name for h in text] == ["Security"] and text[0].text_rank == 1
        assert await chunks.text_search("   ") == []
        assert await chunks.text_search("the of and") == []  # only stop words
        assert len(await chunks.text_search('portal & ("')) == 1  # any input is a valid query
        assert [h.item_name for h in await chunks.text_search('"trust portal"')] == [
            "Compliance FAQ"]
        assert {h.item_name for h in await chunks.text_search("audits")} == {
            "Security", "Compliance FAQ"}  # stemming: audits, audited
        assert [h.item_name for h in await chunks.text_search("audits -compliance")] == [
            "Security"]

        # The query vector prefers the compliance chunks; the exact keyword match still wins.
        query = vec(1.0, 0.1)
        vector_only = await chunks.vector_search(query, k=3)
        assert vector_only[0].item_name == "Compliance FAQ"
        hybrid = await chunks.hybrid_search("SOC 2 audit", query, k=3)
        assert hybrid[0].item_name == "Security"
        assert hybrid[0].text_rank == 1 and hybrid[0].vector_rank == 3
        assert hybrid[0].score == pytest.approx(1 / 61 + 1 / 63)
        assert len(hybrid) == 3 and hybrid[0].score > hybrid[1].score
        text_only = await chunks.hybrid_search("trust portal", k=2)
        assert [h.citation.chunk_index for h in text_only] == [1]
        assert len(await chunks.hybrid_search("audit", query, k=200)) == 3


def test_reciprocal_rank_fusion_prefers_agreement() -> None:
    chunk_ids = [uuid.uuid4() for _ in range(3)]

    def hit(i: int, **ranks: int) -> SearchHit:
        from store.models.knowledge import KnowledgeChunk
        from store.repositories.knowledge import Citation

        chunk = KnowledgeChunk(id=chunk_ids[i], item_id=chunk_ids[i], chunk_index=0)
        return SearchHit(chunk, f"doc{i}", 0.0, Citation(chunk_ids[i], 0), **ranks)

    fused = reciprocal_rank_fusion([
        [hit(0, text_rank=1), hit(1, text_rank=2)],
        [hit(2, vector_rank=1), hit(1, vector_rank=2)],
    ])
    assert fused[0].item_name == "doc1"
    assert (fused[0].text_rank, fused[0].vector_rank) == (2, 2)
    assert fused[0].score == pytest.approx(2 / 62)


async def test_search_never_returns_another_workspace_chunks(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    a, b = await make_workspace(), await make_workspace()
    async with scoped_session(sessions, b.scope) as s:
        await add_doc(s, b, "Their refund policy", [
            ("Refunds within 30 days, refund policy.", vec(1.0)),
        ])
    async with scoped_session(sessions, a.scope) as s:
        await add_doc(s, a, "Our security page", [("Encryption at rest.", vec(0.0, 1.0))])
        chunks = ChunkRepository(s, a.scope)
        for hits in (
            await chunks.vector_search(vec(1.0), k=10),
            await chunks.text_search("refund policy", k=10),
            await chunks.hybrid_search("refund policy", vec(1.0), k=10),
        ):
            assert all(h.item_name == "Our security page" for h in hits)
        assert [h.item_name for h in await chunks.vector_search(vec(1.0), k=10)] == [
            "Our security page"]


@contextmanager
def captured_sql(s: AsyncSession) -> Iterator[list[tuple[str, Any]]]:
    """The statements the session sends, with their parameters."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        seen.append((statement, params))

    engine = s.bind.sync_engine  # type: ignore[union-attr]
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


async def test_filtered_vector_search_uses_partial_hnsw_index_and_still_returns_k(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    """Workspace B has 300 chunks nearer the query than any of A's. An HNSW scan without
    iterative scanning would hand A only B's rows (then filtered away); A must still get k."""
    a, b = await make_workspace(), await make_workspace()
    rng = random.Random(1)
    async with scoped_session(sessions, b.scope) as s:
        item = await ItemRepository(s, b.scope).create(name="Crowd")
        crowd = [ChunkInput(f"near {i}", 2, embedding=vec(1.0, rng.uniform(0, 0.05),
                                                         rng.uniform(0, 0.05)))
                 for i in range(300)]
        await ChunkRepository(s, b.scope).replace_for_item(item.id, crowd, embedding_model=MODEL)
    async with scoped_session(sessions, a.scope) as s:
        await add_doc(s, a, "Ours", [(f"far {i}", vec(0.2, 1.0, 0.1 * i)) for i in range(4)])
        # Make the planner take the HNSW index (it provides the order) over the small-table
        # plan (workspace index, then sort): the case where iterative scanning matters.
        await s.execute(sa.text("SET LOCAL enable_seqscan = off"))
        await s.execute(sa.text("SET LOCAL enable_sort = off"))
        chunks = ChunkRepository(s, a.scope)
        with captured_sql(s) as seen:
            hits = await chunks.vector_search(vec(1.0), k=3, embedding_model=MODEL)
        assert [h.content for h in (hit.chunk for hit in hits)] == ["far 0", "far 1", "far 2"]
        statement, params = next((q, p) for q, p in seen if "<=>" in q)
        conn = await s.connection()
        plan = (await conn.exec_driver_sql(f"EXPLAIN {statement}", params)).scalars().all()
        assert any("ix_knowledge_chunks_embedding_384" in line for line in plan), plan


async def test_hnsw_indexes_exist_as_partial_expression_indexes(
    sessions: Sessions, make_workspace: MakeWorkspace
) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        rows = (await s.execute(sa.text(
            "SELECT indexname, indexdef FROM pg_indexes "
            "WHERE tablename IN ('knowledge_chunks', 'memory_facts') AND indexdef LIKE '%hnsw%'"
        ))).all()
    defs = dict((name, definition) for name, definition in rows)
    assert set(defs) == {f"ix_{t}_embedding_{d}" for t in ("knowledge_chunks", "memory_facts")
                         for d in (384, 1536)}
    chunk_384 = defs["ix_knowledge_chunks_embedding_384"]
    assert "((embedding)::vector(384)) vector_cosine_ops" in chunk_384
    assert "WHERE (embedding_dim = 384)" in chunk_384


# -- demo -------------------------------------------------------------------------------------
async def test_demo_seed(sessions: Sessions, make_workspace: MakeWorkspace) -> None:
    ws = await make_workspace()
    async with scoped_session(sessions, ws.scope) as s:
        ctx = demo_context(s, ws, seed=5)
        await knowledge_demo.seed(ctx)
        collections = CollectionRepository(s, ws.scope)
        assert await collections.count() == 2
        items = ItemRepository(s, ws.scope)
        assert await items.count(status=ItemStatus.READY) == len(ctx.ids["knowledge_items"]) >= 4
        chunks = ChunkRepository(s, ws.scope)
        assert await chunks.count() == len(ctx.ids["knowledge_chunks"])
        assert await chunks.count(embedding_dim=None) == await chunks.count()
        item = await items.get(ctx.ids["knowledge_items"][0])
        assert item.chunk_count == len(await chunks.for_item(item.id)) >= 2
        assert "Test Co" in (item.content or "")
        default = await collections.default()
        assert default.item_count >= 4
        hits = await chunks.hybrid_search("refund annual plans within 30 days", k=3)
        assert (hits[0].item_name, hits[0].citation.chunk_index) == ("Refund Policy", 1)
        assert hits[0].chunk.token_count > 10
        assert len(await TagRepository(s, ws.scope).for_item(hits[0].citation.item_id)) == 2
