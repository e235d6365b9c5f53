"""search_knowledge: find the passages that answer a question, with citations.

Hybrid by default: full-text and vector rankings fused by reciprocal rank
(`ChunkRepository.hybrid_search`). Text ranks twice, chunks with all the query's words and
chunks with any of them, so a question in plain words still gets text matches while a passage
with every word stays on top; a query with web-search operators (quotes, OR, -word) ranks by
all words only. Text mode is the same without the vector ranking.

The query is embedded by the same embedder that embeds the chunks, and only chunks embedded
under that embedder's name take part in the vector ranking, so chunks still waiting for the
worker are found by their words alone. If the query cannot be embedded at all (a provider
outage), the search degrades to full text and says so rather than failing the turn.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from store.models.knowledge import ItemStatus, ItemType
from store.repositories.knowledge import (
    ChunkRepository,
    ItemRepository,
    SearchHit,
    text_matches_for,
)
from tools.context import ToolContext
from tools.knowledge.common import ARGS, collection_named, tag_id_named
from tools.knowledge.embedder import embedder_for
from tools.registry import Risk, tool

log = logging.getLogger(__name__)
SNIPPET_CHARS = 1500
Mode = Literal["hybrid", "text", "vector"]


class SearchKnowledgeArgs(BaseModel):
    model_config = ARGS

    query: str = Field(
        min_length=1, max_length=500,
        description="A question or keywords, e.g. 'refunds for annual plans' or 'SSO-401'.",
    )
    collection: str | None = Field(
        default=None, max_length=200, description="Only this collection (by name)."
    )
    tag: str | None = Field(default=None, max_length=50, description="Only items with this tag.")
    type: ItemType | None = Field(default=None, description="Only document, url or text items.")
    k: int = Field(default=5, ge=1, le=20, description="How many passages to return (1-20).")
    mode: Mode = Field(
        default="hybrid",
        description="hybrid (words and meaning; best in general), text (exact words, codes, "
        "names), or vector (meaning only).",
    )


class Passage(BaseModel):
    item_id: uuid.UUID
    title: str = Field(description="The item's name.")
    chunk_index: int = Field(description="Position of the passage in the item; cite it.")
    heading: str | None = Field(description="Section path, e.g. 'Pricing > Enterprise'.")
    score: float = Field(description="Relevance; higher is better (comparable within a search).")
    matched_by: list[str] = Field(description="Which rankings found it: text, vector.")
    snippet: str = Field(description="The passage text.")


class SearchKnowledgeResult(BaseModel):
    results: list[Passage] = Field(description="Best first.")
    mode: Mode = Field(description="The search that actually ran.")
    note: str | None = None


@tool(
    risk=Risk.LOW,
    examples=("what is our refund policy for annual plans?", "how do I set up SSO?",
              "search the help center for rate limits", "what does error SF-17 mean?"),
)
async def search_knowledge(ctx: ToolContext, args: SearchKnowledgeArgs) -> SearchKnowledgeResult:
    """Search the workspace's knowledge base (documents, saved pages) and return the best
    passages with citations (item id, title, section heading, chunk index). Answer from the
    snippets and cite the title and heading; read a whole item with get_knowledge_item."""
    collection_id = (await collection_named(ctx, args.collection)).id if args.collection else None
    tag_id = await tag_id_named(ctx, args.tag) if args.tag else None
    embedding, mode, note = await _query_vector(ctx, args)
    chunks = ChunkRepository(ctx.session, ctx.scope)
    narrow: dict[str, Any] = {"collection_id": collection_id, "item_type": args.type,
                              "tag_id": tag_id}
    model = embedder_for(ctx.services).name
    if mode == "vector" and embedding is not None:
        hits = await chunks.vector_search(embedding, k=args.k, embedding_model=model, **narrow)
    else:
        hits = await chunks.hybrid_search(
            args.query, embedding if mode == "hybrid" else None, k=args.k,
            embedding_model=model, text_matches=text_matches_for(args.query), **narrow,
        )
    pending = await ItemRepository(ctx.session, ctx.scope).count(status=ItemStatus.PROCESSING)
    if pending and mode != "text":
        note = note or (f"{pending} item(s) are still being indexed for meaning; they are "
                        "found by their words only until then")
    return SearchKnowledgeResult(results=[_passage(h) for h in hits], mode=mode, note=note)


async def _query_vector(
    ctx: ToolContext, args: SearchKnowledgeArgs
) -> tuple[list[float] | None, Mode, str | None]:
    """(query vector, mode that will run, note): text mode needs no vector, and a failed
    embedding falls back to text."""
    if args.mode == "text":
        return None, "text", None
    try:
        [vector] = await embedder_for(ctx.services).embed([args.query])
    except Exception:
        log.warning("query embedding failed; searching full text only", exc_info=True)
        return None, "text", "search by meaning is unavailable right now; matched words only"
    return vector, args.mode, None


def _passage(hit: SearchHit) -> Passage:
    content = hit.chunk.content
    heading = hit.chunk.heading
    if heading and content.startswith(heading):
        content = content[len(heading):].lstrip()
    matched = [name for name, rank in (("text", hit.text_rank), ("vector", hit.vector_rank))
               if rank is not None]
    return Passage(
        item_id=hit.citation.item_id, title=hit.item_name, chunk_index=hit.citation.chunk_index,
        heading=heading, score=round(hit.score, 6), matched_by=matched,
        snippet=content[:SNIPPET_CHARS],
    )
