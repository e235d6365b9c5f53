"""Knowledge repositories: collections, items, tags, chunks and hybrid search.

Search fuses two rankings with reciprocal rank fusion (score = sum of 1 / (60 + rank)), which
needs no calibration between cosine distances and `ts_rank` values:
- vector: cosine distance on `embedding::vector(N)` restricted to `embedding_dim = N` (and the
  same embedding model), the exact shape of the partial HNSW index for dimension N. The HNSW
  scan is iterative (`hnsw.iterative_scan = relaxed_order`, set for the transaction only) so a
  filtered query (this workspace, this collection) keeps scanning until it has `k` rows instead
  of returning the few that survived the filter among the first `ef_search` candidates;
- full text over the generated `search_vector`, in one of two ways. `all` words:
  `websearch_to_tsquery('english', ...)` (quotes, OR, -word), ranked by `ts_rank`. `any` word:
  the query's lexemes joined by OR, ranked by `ts_rank_cd`, so a chunk with more of the words,
  closer together, ranks higher. A question in plain words rarely has all its words in one
  passage: hybrid search can fuse both text rankings with the vector one (`text_matches`),
  which on the labelled retrieval set in tests/knowledge lifts recall@5 above vector-only
  while a chunk with every word still outranks one with some (it is in both text lists).
Every hit carries a citation (item id, chunk index) the assistant can show.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from store.errors import Conflict, InvalidArgument
from store.models.base import JSON
from store.models.knowledge import (
    ItemStatus,
    ItemType,
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeItem,
    KnowledgeItemTag,
    KnowledgeTag,
)
from store.pagination import Page
from store.repositories.ai import ScopedRepository, execute_translated
from store.repositories.base import utcnow
from store.repositories.crm import ilike_any

RRF_K = 60
#: HNSW candidate list per scan round. benchmarks/knowledge_search.py (100,000 chunks in 100
#: workspaces, HNSW scan forced): recall@10 0.992 at pgvector's default 40, 0.999 at 100, at
#: the same p95 (about 4 ms).
HNSW_EF_SEARCH = 100
TextMatch = Literal["all", "any"]
_WEB_SEARCH_OPERATORS = re.compile(r'"|\bOR\b|(?:^|\s)-\w')
ENGLISH: sa.ColumnElement[Any] = sa.literal_column("'english'::regconfig")
DEFAULT_COLLECTION = "General"


def text_matches_for(query: str) -> tuple[TextMatch, ...]:
    """The text rankings that suit a query: all words for one written with web-search
    operators (quotes, OR, -word: adding any-word matches would undo them), else all words
    and any word."""
    return ("all",) if _WEB_SEARCH_OPERATORS.search(query) else ("all", "any")


def _text_query(query: str, match: TextMatch) -> tuple[Any, Any]:
    """(tsquery, rank function) for matching all words with web-search syntax, or any word.
    The any-word query is the plain query's lexemes (already stemmed, so cast, not reparsed)
    with `&` turned into `|`; phrases from hyphenated words stay phrases."""
    if match == "all":
        return sa.func.websearch_to_tsquery(ENGLISH, query), sa.func.ts_rank
    plain = sa.cast(sa.func.plainto_tsquery(ENGLISH, query), sa.Text)
    return sa.cast(sa.func.replace(plain, " & ", " | "), TSQUERY), sa.func.ts_rank_cd


# -- vector helpers (shared with memory facts) ------------------------------------------------
def cosine_distance(
    model: Any, embedding: Sequence[float], embedding_model: str | None
) -> tuple[sa.ColumnElement[float], sa.ColumnElement[bool]]:
    """(distance expression, filter) for a table with `embedding`/`embedding_dim`/
    `embedding_model` columns, written so the partial HNSW index for this dimension applies:
    the cast matches the index expression and the dimension is a literal, not a parameter
    (a parameter would hide the partial index's predicate from a generic plan)."""
    dim = len(embedding)
    if dim == 0:
        raise InvalidArgument("a query embedding needs at least one value")
    distance = sa.cast(model.embedding, Vector(dim)).cosine_distance(
        [float(v) for v in embedding]
    ).label("distance")
    same_space = [model.embedding_dim == sa.literal_column(str(int(dim)))]
    if embedding_model is not None:
        same_space.append(model.embedding_model == embedding_model)
    return distance, sa.and_(*same_space)


async def enable_iterative_scan(session: AsyncSession, ef_search: int = HNSW_EF_SEARCH) -> None:
    """Let HNSW scans continue past `ef_search` until the filtered query has its rows, with a
    candidate list of `ef_search` per round (pgvector's default is 40; see HNSW_EF_SEARCH)."""
    await session.execute(sa.text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
    await session.execute(sa.text(f"SET LOCAL hnsw.ef_search = {int(ef_search)}"))


# -- collections ------------------------------------------------------------------------------
class CollectionRepository(ScopedRepository[KnowledgeCollection]):
    model = KnowledgeCollection
    sortable = frozenset({"created_at", "updated_at", "name"})

    async def by_name(self, name: str) -> KnowledgeCollection | None:
        return await self._first(sa.func.lower(KnowledgeCollection.name) == name.strip().lower())

    async def default(self, *, created_by: uuid.UUID | None = None) -> KnowledgeCollection:
        """The workspace's default collection, created (as "General") on first use."""
        found = await self._first(KnowledgeCollection.is_default.is_(True))
        if found is not None:
            return found
        if await self.by_name(DEFAULT_COLLECTION) is not None:
            raise Conflict(f"a collection named {DEFAULT_COLLECTION!r} exists but is not default")
        return await self.create(name=DEFAULT_COLLECTION, is_default=True, created_by=created_by)

    async def search(
        self, text: str = "", *, limit: int = 20, cursor: str | None = None
    ) -> Page[KnowledgeCollection]:
        where = [ilike_any(text.strip(), KnowledgeCollection.name,
                           KnowledgeCollection.description)] if text.strip() else []
        return await self._page(*where, limit=limit, cursor=cursor, sort="name", descending=False)

    async def recount(self, collection_ids: Iterable[uuid.UUID | None]) -> None:
        """Set `item_count` from the items table for these collections."""
        ids = {c for c in collection_ids if c is not None}
        if not ids:
            return
        count = (
            sa.select(sa.func.count())
            .where(KnowledgeItem.workspace_id == KnowledgeCollection.workspace_id,
                   KnowledgeItem.collection_id == KnowledgeCollection.id)
            .scalar_subquery()
        )
        await execute_translated(self, sa.update(KnowledgeCollection).where(
            KnowledgeCollection.workspace_id == self.scope.workspace_id,
            KnowledgeCollection.id.in_(ids),
        ).values(item_count=count))


# -- items ------------------------------------------------------------------------------------
class ItemRepository(ScopedRepository[KnowledgeItem]):
    """Items; every write that adds, removes or moves one keeps its collection's count."""

    model = KnowledgeItem
    sortable = frozenset({"created_at", "updated_at", "name"})

    async def create(self, **values: Any) -> KnowledgeItem:
        row = await super().create(**values)
        await self._collections.recount([row.collection_id])
        return row

    async def create_many(self, rows: Sequence[Mapping[str, Any]]) -> list[uuid.UUID]:
        ids = await super().create_many(rows)
        await self._collections.recount(r.get("collection_id") for r in rows)
        return ids

    async def update(self, row_id: uuid.UUID, **values: Any) -> KnowledgeItem:
        before = (await self.get(row_id)).collection_id
        row = await super().update(row_id, **values)
        if "collection_id" in values:
            await self._collections.recount([before, row.collection_id])
        return row

    async def delete(self, row_id: uuid.UUID) -> None:
        """Delete the item with its chunks and tag links, and recount what it was counted in."""
        row = await self.get(row_id)
        tags = TagRepository(self.session, self.scope)
        tag_ids = [t.id for t in await tags.for_item(row_id)]
        await super().delete(row_id)
        await self._collections.recount([row.collection_id])
        await tags.recount(tag_ids)

    @property
    def _collections(self) -> CollectionRepository:
        return CollectionRepository(self.session, self.scope)

    async def search(
        self, text: str = "", *, collection_id: uuid.UUID | None = None,
        status: ItemStatus | None = None, tag_id: uuid.UUID | None = None,
        limit: int = 20, cursor: str | None = None, item_type: ItemType | None = None,
    ) -> Page[KnowledgeItem]:
        """Items whose name or source URL contains `text`, newest first."""
        where: list[sa.ColumnElement[bool]] = []
        if item_type is not None:
            where.append(KnowledgeItem.type == item_type)
        if text.strip():
            where.append(ilike_any(text.strip(), KnowledgeItem.name, KnowledgeItem.source_url))
        if collection_id is not None:
            where.append(KnowledgeItem.collection_id == collection_id)
        if status is not None:
            where.append(KnowledgeItem.status == status)
        if tag_id is not None:
            where.append(KnowledgeItem.id.in_(
                sa.select(KnowledgeItemTag.item_id).where(
                    KnowledgeItemTag.workspace_id == self.scope.workspace_id,
                    KnowledgeItemTag.tag_id == tag_id,
                )
            ))
        return await self._page(*where, limit=limit, cursor=cursor)

    async def by_checksum(self, checksum: str) -> KnowledgeItem | None:
        """An item with this content already (ingestion skips re-embedding it)."""
        return await self._first(KnowledgeItem.checksum == checksum,
                                 order_by=[KnowledgeItem.created_at])

    async def mark_ready(self, item_id: uuid.UUID) -> KnowledgeItem:
        return await self.update(item_id, status=ItemStatus.READY, error=None,
                                 last_indexed_at=utcnow())

    async def mark_failed(self, item_id: uuid.UUID, error: str) -> KnowledgeItem:
        return await self.update(item_id, status=ItemStatus.FAILED, error=error)


# -- tags -------------------------------------------------------------------------------------
class TagRepository(ScopedRepository[KnowledgeTag]):
    model = KnowledgeTag
    sortable = frozenset({"created_at", "updated_at", "name", "item_count"})

    async def by_name(self, name: str) -> KnowledgeTag | None:
        """The tag called `name`, ignoring case and surrounding spaces."""
        return await self._first(sa.func.lower(KnowledgeTag.name) == name.strip().lower())

    async def get_or_create(self, name: str, *, color: str | None = None) -> KnowledgeTag:
        name = name.strip()
        if not name:
            raise InvalidArgument("a tag needs a name")
        found = await self.by_name(name)
        return found if found is not None else await self.create(name=name, color=color)

    async def for_item(self, item_id: uuid.UUID) -> list[KnowledgeTag]:
        stmt = (
            self.select()
            .join(KnowledgeItemTag, sa.and_(
                KnowledgeItemTag.workspace_id == KnowledgeTag.workspace_id,
                KnowledgeItemTag.tag_id == KnowledgeTag.id,
            ))
            .where(KnowledgeItemTag.item_id == item_id)
            .order_by(KnowledgeTag.name)
        )
        return list(await self.session.scalars(stmt))

    async def names_for_items(self, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, list[str]]:
        """Tag names per item (sorted), for many items in one query."""
        ids = list(set(item_ids))
        if not ids:
            return {}
        stmt = (
            sa.select(KnowledgeItemTag.item_id, KnowledgeTag.name)
            .join(KnowledgeTag, sa.and_(
                KnowledgeTag.workspace_id == KnowledgeItemTag.workspace_id,
                KnowledgeTag.id == KnowledgeItemTag.tag_id,
            ))
            .where(KnowledgeItemTag.workspace_id == self.scope.workspace_id,
                   KnowledgeItemTag.item_id.in_(ids))
            .order_by(KnowledgeTag.name)
        )
        names: dict[uuid.UUID, list[str]] = {item_id: [] for item_id in ids}
        for item_id, name in await self.session.execute(stmt):
            names[item_id].append(name)
        return names

    async def tag(self, item_id: uuid.UUID, tag_id: uuid.UUID) -> None:
        """Attach a tag to an item (idempotent)."""
        links = ItemTagRepository(self.session, self.scope)
        if await links.find_link(item_id, tag_id) is None:
            await links.create(item_id=item_id, tag_id=tag_id)
            await self.recount([tag_id])

    async def untag(self, item_id: uuid.UUID, tag_id: uuid.UUID) -> bool:
        """Detach a tag; False when it was not attached."""
        links = ItemTagRepository(self.session, self.scope)
        link = await links.find_link(item_id, tag_id)
        if link is None:
            return False
        await links.delete(link.id)
        await self.recount([tag_id])
        return True

    async def recount(self, tag_ids: Iterable[uuid.UUID]) -> None:
        ids = set(tag_ids)
        if not ids:
            return
        count = (
            sa.select(sa.func.count())
            .where(KnowledgeItemTag.workspace_id == KnowledgeTag.workspace_id,
                   KnowledgeItemTag.tag_id == KnowledgeTag.id)
            .scalar_subquery()
        )
        await execute_translated(self, sa.update(KnowledgeTag).where(
            KnowledgeTag.workspace_id == self.scope.workspace_id, KnowledgeTag.id.in_(ids),
        ).values(item_count=count))


class ItemTagRepository(ScopedRepository[KnowledgeItemTag]):
    """The item-tag links; its own repository so a missing item or tag reads as NotFound."""

    model = KnowledgeItemTag

    async def find_link(self, item_id: uuid.UUID, tag_id: uuid.UUID) -> KnowledgeItemTag | None:
        return await self._first(KnowledgeItemTag.item_id == item_id,
                                 KnowledgeItemTag.tag_id == tag_id)


# -- chunks and search ------------------------------------------------------------------------
@dataclass(frozen=True)
class ChunkInput:
    content: str
    token_count: int
    heading: str | None = None
    location: JSON = field(default_factory=dict)
    embedding: Sequence[float] | None = None


@dataclass(frozen=True)
class Citation:
    item_id: uuid.UUID
    chunk_index: int


@dataclass(frozen=True)
class SearchHit:
    """A chunk found by search. `score` is cosine similarity (vector search), `ts_rank` (text
    search) or the fused reciprocal-rank score (hybrid); the ranks say which list found it."""

    chunk: KnowledgeChunk
    item_name: str
    score: float
    citation: Citation
    vector_rank: int | None = None
    text_rank: int | None = None


class ChunkRepository(ScopedRepository[KnowledgeChunk]):
    model = KnowledgeChunk
    sortable = frozenset({"created_at", "chunk_index"})

    async def replace_for_item(
        self, item_id: uuid.UUID, chunks: Sequence[ChunkInput], *,
        embedding_model: str | None = None,
    ) -> list[uuid.UUID]:
        """Make `chunks` (in order) the item's only chunks and record their number on the item.
        Embeddings, when given, all come from `embedding_model`."""
        rows = [_chunk_row(item_id, index, chunk, embedding_model)
                for index, chunk in enumerate(chunks)]
        items = ItemRepository(self.session, self.scope)
        await items.get(item_id)
        await execute_translated(self, sa.delete(KnowledgeChunk).where(
            KnowledgeChunk.workspace_id == self.scope.workspace_id,
            KnowledgeChunk.item_id == item_id,
        ))
        ids = await self.create_many(rows)
        await items.update(item_id, chunk_count=len(rows))
        return ids

    async def for_item(self, item_id: uuid.UUID) -> list[KnowledgeChunk]:
        return await self._all(KnowledgeChunk.item_id == item_id,
                               order_by=[KnowledgeChunk.chunk_index])

    async def without_embedding(self, *, limit: int = 100) -> list[KnowledgeChunk]:
        """Chunks still waiting for the embedding job, oldest first."""
        return await self._all(KnowledgeChunk.embedding.is_(None),
                               order_by=[KnowledgeChunk.created_at, KnowledgeChunk.id],
                               limit=limit)

    def _stale(self, item_id: uuid.UUID, embedding_model: str) -> list[sa.ColumnElement[bool]]:
        return [KnowledgeChunk.item_id == item_id,
                KnowledgeChunk.embedding_model.is_distinct_from(embedding_model)]

    async def claim_stale(
        self, item_id: uuid.UUID, embedding_model: str, *, limit: int = 256
    ) -> list[KnowledgeChunk]:
        """Lock and return (in order) up to `limit` of the item's chunks without a vector from
        `embedding_model`, skipping chunks another transaction holds: two embedding jobs for
        the same item split or skip the work instead of doing it twice."""
        stmt = (
            self.select().where(*self._stale(item_id, embedding_model))
            .order_by(KnowledgeChunk.chunk_index).limit(limit)
            .with_for_update(skip_locked=True)
        )
        return list(await self.session.scalars(
            stmt, execution_options={"populate_existing": True}
        ))

    async def count_stale(self, item_id: uuid.UUID, embedding_model: str) -> int:
        """The item's chunks still without a vector from `embedding_model`."""
        return await self._count(*self._stale(item_id, embedding_model))

    async def set_embeddings(
        self, embeddings: Sequence[tuple[uuid.UUID, Sequence[float]]], embedding_model: str
    ) -> None:
        for chunk_id, vector in embeddings:
            if not vector:
                raise InvalidArgument("an embedding needs at least one value")
            await self.update(chunk_id, embedding=list(vector), embedding_dim=len(vector),
                              embedding_model=embedding_model)

    def _with_items(self, *columns: Any) -> sa.Select[Any]:
        join = sa.and_(KnowledgeItem.workspace_id == KnowledgeChunk.workspace_id,
                       KnowledgeItem.id == KnowledgeChunk.item_id)
        return self.select().join(KnowledgeItem, join).add_columns(KnowledgeItem.name, *columns)

    def _narrow(
        self, collection_id: uuid.UUID | None, item_ids: Sequence[uuid.UUID] | None,
        item_type: ItemType | None = None, tag_id: uuid.UUID | None = None,
    ) -> list[sa.ColumnElement[bool]]:
        """Conditions on the chunk's item: its collection, its id, its type, one of its tags."""
        where: list[sa.ColumnElement[bool]] = []
        if collection_id is not None:
            where.append(KnowledgeItem.collection_id == collection_id)
        if item_ids is not None:
            where.append(KnowledgeChunk.item_id.in_(list(item_ids)))
        if item_type is not None:
            where.append(KnowledgeItem.type == item_type)
        if tag_id is not None:
            where.append(sa.exists().where(
                KnowledgeItemTag.workspace_id == self.scope.workspace_id,
                KnowledgeItemTag.item_id == KnowledgeChunk.item_id,
                KnowledgeItemTag.tag_id == tag_id,
            ))
        return where

    async def vector_search(
        self, embedding: Sequence[float], *, k: int = 8, embedding_model: str | None = None,
        collection_id: uuid.UUID | None = None, item_ids: Sequence[uuid.UUID] | None = None,
        item_type: ItemType | None = None, tag_id: uuid.UUID | None = None,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> list[SearchHit]:
        """The `k` chunks nearest to `embedding` by cosine distance, nearest first."""
        distance, same_space = cosine_distance(KnowledgeChunk, embedding, embedding_model)
        await enable_iterative_scan(self.session, ef_search)
        stmt = (
            self._with_items(distance)
            .where(same_space, *self._narrow(collection_id, item_ids, item_type, tag_id))
            .order_by(distance).limit(_check_k(k))
        )
        rows = sorted((await self.session.execute(stmt)).all(), key=lambda r: (r[2], r[0].id))
        return [_hit(chunk, name, 1.0 - float(dist), vector_rank=rank)
                for rank, (chunk, name, dist) in enumerate(rows, start=1)]

    async def text_search(
        self, query: str, *, k: int = 8, collection_id: uuid.UUID | None = None,
        item_ids: Sequence[uuid.UUID] | None = None, item_type: ItemType | None = None,
        tag_id: uuid.UUID | None = None, match: TextMatch = "all",
    ) -> list[SearchHit]:
        """Chunks matching `query`, best first: with `all` (the default) every word in
        web-search syntax (quotes, OR, -word); with `any` at least one word."""
        if not query.strip():
            return []
        tsquery, rank_function = _text_query(query, match)
        rank = rank_function(KnowledgeChunk.search_vector, tsquery).label("rank")
        stmt = (
            self._with_items(rank)
            .where(KnowledgeChunk.search_vector.bool_op("@@")(tsquery),
                   *self._narrow(collection_id, item_ids, item_type, tag_id))
            .order_by(rank.desc(), KnowledgeChunk.id).limit(_check_k(k))
        )
        rows = (await self.session.execute(stmt)).all()
        return [_hit(chunk, name, float(score), text_rank=position)
                for position, (chunk, name, score) in enumerate(rows, start=1)]

    async def hybrid_search(
        self, query: str, embedding: Sequence[float] | None = None, *, k: int = 8,
        embedding_model: str | None = None, collection_id: uuid.UUID | None = None,
        item_ids: Sequence[uuid.UUID] | None = None, candidates: int | None = None,
        item_type: ItemType | None = None, tag_id: uuid.UUID | None = None,
        text_matches: Sequence[TextMatch] = ("all",),
    ) -> list[SearchHit]:
        """Full-text and (when `embedding` is given) vector results fused by reciprocal rank.

        Each list contributes its top `candidates` (default 4k, at least 20, at most 200); a
        chunk found by several lists outranks one found by one alone at a similar position.
        `text_matches` says which text rankings take part: ("all",) by default, ("all", "any")
        to also rank chunks that have only some of the words.
        """
        pool = min(candidates or max(4 * _check_k(k), 20), 200)
        narrow: dict[str, Any] = {"collection_id": collection_id, "item_ids": item_ids,
                                  "item_type": item_type, "tag_id": tag_id}
        ranked = [await self.text_search(query, k=pool, match=match, **narrow)
                  for match in dict.fromkeys(text_matches)]
        if embedding is not None:
            ranked.append(await self.vector_search(
                embedding, k=pool, embedding_model=embedding_model, **narrow
            ))
        return reciprocal_rank_fusion(ranked)[:k]


def reciprocal_rank_fusion(
    ranked: Sequence[Sequence[SearchHit]], k: int = RRF_K
) -> list[SearchHit]:
    """Fuse ranked lists: each hit scores sum(1 / (k + rank)) over the lists that contain it."""
    fused: dict[uuid.UUID, SearchHit] = {}
    for hits in ranked:
        for position, hit in enumerate(hits, start=1):
            earlier = fused.get(hit.chunk.id)
            score = 1.0 / (k + position) + (earlier.score if earlier else 0.0)
            fused[hit.chunk.id] = replace(
                hit, score=score,
                vector_rank=hit.vector_rank or (earlier.vector_rank if earlier else None),
                text_rank=hit.text_rank or (earlier.text_rank if earlier else None),
            )
    return sorted(fused.values(), key=lambda h: (-h.score, str(h.citation.item_id),
                                                 h.citation.chunk_index))


def _hit(chunk: KnowledgeChunk, item_name: str, score: float, **ranks: int) -> SearchHit:
    citation = Citation(item_id=chunk.item_id, chunk_index=chunk.chunk_index)
    return SearchHit(chunk=chunk, item_name=item_name, score=score, citation=citation, **ranks)


def _check_k(k: int) -> int:
    if not 1 <= k <= 200:
        raise InvalidArgument(f"k must be between 1 and 200, got {k}")
    return k


def _chunk_row(
    item_id: uuid.UUID, index: int, chunk: ChunkInput, embedding_model: str | None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "item_id": item_id, "chunk_index": index, "content": chunk.content,
        "token_count": chunk.token_count, "heading": chunk.heading, "location": chunk.location,
    }
    if chunk.embedding is not None:
        if embedding_model is None or not chunk.embedding:
            raise InvalidArgument("chunk embeddings need values and the embedding model's name")
        row.update(embedding=list(chunk.embedding), embedding_dim=len(chunk.embedding),
                   embedding_model=embedding_model)
    return row
