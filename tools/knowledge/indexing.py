"""Indexing: an item's content becomes chunks at once, and vectors inline or in the background.

`index_item` replaces an item's chunks in the caller's transaction, so full-text search finds
the new content the moment the write commits. Vectors come either inline (pass an embedder, as
a script or an import would) or from the worker: a chunk whose `embedding_model` is not the
current embedder's name (NULL included) is due work of kind `embed` for `neptune_due_work()`,
and `embed_item` does it. The same rule re-embeds everything after the embedder changes.

Tools index without embedding: a model run does not belong inside a tool's transaction, and the
worker (nudged through `tools.jobs.nudge`) catches up within moments. Until it has, search is
full text plus whatever already has a vector.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from store.models.knowledge import ItemStatus, KnowledgeItem
from store.repositories.knowledge import ChunkInput, ChunkRepository, ItemRepository
from store.tenancy import WorkspaceScope, scoped_session
from tools.jobs import JobContext
from tools.knowledge.embedder import Embedder, embedder_for
from tools.knowledge.ingest import DocumentFormat, chunk_document, parse

EMBED_KIND = "embed"
#: Chunks one embedding transaction claims; a larger item takes several rounds.
EMBED_ROUND = 128
_FORMATS = {"text/plain": DocumentFormat.TEXT, "text/html": DocumentFormat.HTML}


def content_checksum(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def stored_format(item: KnowledgeItem) -> DocumentFormat:
    """How to read an item's stored content: tools store HTML already rendered to Markdown
    (as `text/markdown`), so raw HTML here came from elsewhere and is rendered on the fly."""
    return _FORMATS.get(item.mime_type or "", DocumentFormat.MARKDOWN)


async def index_item(
    session: AsyncSession, scope: WorkspaceScope, item: KnowledgeItem,
    embedder: Embedder | None = None,
) -> int:
    """Make the item's chunks match its content; the number of chunks.

    With an embedder the chunks get their vectors now and the item is ready; without one the
    item stays `processing` until `embed_item` has embedded it (an empty item is ready at once).
    """
    document = parse(item.content or "", stored_format(item))
    chunks = chunk_document(document)
    vectors = await embedder.embed([c.content for c in chunks]) if embedder and chunks else None
    await ChunkRepository(session, scope).replace_for_item(item.id, [
        ChunkInput(c.content, c.token_count, heading=c.heading, location=c.location,
                   embedding=vectors[i] if vectors else None)
        for i, c in enumerate(chunks)
    ], embedding_model=embedder.name if vectors and embedder else None)
    items = ItemRepository(session, scope)
    await items.update(item.id, checksum=content_checksum(item.content or ""))
    if vectors is not None or not chunks:
        await items.mark_ready(item.id)
    else:
        await items.update(item.id, status=ItemStatus.PROCESSING, error=None)
    return len(chunks)


async def embed_item(job: JobContext, workspace_id: uuid.UUID, item_id: uuid.UUID) -> None:
    """Worker handler for kind `embed`: give the item's chunks vectors from the current
    embedder, then mark the item ready.

    Each round claims chunks with `FOR UPDATE SKIP LOCKED` in its own transaction, embeds them
    and writes the vectors before committing, so a second run of this handler for the same item
    skips what the first holds and finds nothing left afterwards: each chunk is embedded once.
    """
    embedder = embedder_for(job.services)
    scope = WorkspaceScope(workspace_id)
    while await _embed_round(job, scope, item_id, embedder):
        pass


async def _embed_round(
    job: JobContext, scope: WorkspaceScope, item_id: uuid.UUID, embedder: Embedder
) -> bool:
    """Embed one batch of the item's stale chunks; False once there was none to claim.

    The item becomes ready (and `last_indexed_at` moves) in the round that sees no stale chunk
    left. When two runs share an item, the one that commits last sees the other's vectors in
    its final round and marks it.
    """
    async with scoped_session(job.sessions, scope) as session:
        chunks = ChunkRepository(session, scope)
        claimed = await chunks.claim_stale(item_id, embedder.name, limit=EMBED_ROUND)
        if claimed:
            vectors = await embedder.embed([c.content for c in claimed])
            await chunks.set_embeddings(
                [(c.id, v) for c, v in zip(claimed, vectors, strict=True)], embedder.name
            )
        items = ItemRepository(session, scope)
        item = await items.find(item_id)
        if item is None:  # deleted since it was listed: its chunks went with it
            return False
        worked = bool(claimed) or item.status != ItemStatus.READY
        if worked and await chunks.count_stale(item_id, embedder.name) == 0:
            await items.mark_ready(item_id)
        return bool(claimed)
