"""The labelled retrieval set shipped in `data/`: documents of a fictional company's knowledge
base (Markdown and HTML) and questions, each labelled with the document and section that
answers it. Loading it indexes every document with the given embedder inline."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from store.repositories.knowledge import ItemRepository, SearchHit
from store.tenancy import WorkspaceScope, scoped_session
from tools.knowledge.embedder import Embedder
from tools.knowledge.indexing import index_item
from tools.knowledge.ingest import HEADING_SEPARATOR, DocumentFormat, html_to_markdown

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Query:
    text: str
    doc: str
    section: str


def documents() -> list[tuple[str, DocumentFormat, str]]:
    """(stem, format, raw text) of every document, by file name."""
    return [
        (path.stem, DocumentFormat.HTML if path.suffix == ".html" else DocumentFormat.MARKDOWN,
         path.read_text())
        for path in sorted((DATA / "docs").iterdir())
    ]


def queries() -> list[Query]:
    raw = json.loads((DATA / "queries.json").read_text())
    return [Query(q["query"], q["doc"], q["section"]) for q in raw]


async def load(
    sessions: async_sessionmaker[AsyncSession], scope: WorkspaceScope, embedder: Embedder | None
) -> dict[uuid.UUID, str]:
    """Every document as an indexed item of the workspace; item id -> document stem."""
    stems: dict[uuid.UUID, str] = {}
    async with scoped_session(sessions, scope) as session:
        items = ItemRepository(session, scope)
        for stem, fmt, raw in documents():
            text = html_to_markdown(raw) if fmt == DocumentFormat.HTML else raw
            row = await items.create(name=stem, content=text, mime_type="text/markdown")
            await index_item(session, scope, row, embedder)
            stems[row.id] = stem
    return stems


def answers(query: Query, hit: SearchHit, stems: dict[uuid.UUID, str]) -> bool:
    """Whether the hit is the labelled section of the labelled document."""
    heading = hit.chunk.heading or ""
    return (stems.get(hit.citation.item_id) == query.doc
            and heading.split(HEADING_SEPARATOR)[-1] == query.section)
