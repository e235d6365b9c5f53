"""Knowledge over REST: upload a document, search the knowledge base.

Both run the registered tools (`create_document`, `search_knowledge`) through `tools.invoke`,
inside one workspace-scoped transaction, so the role checks, the workspace's tool policy
(a disabled tool is disabled here too), validation and the audit rows are exactly those of a
chat turn. An upload is the member's own act, so it needs no approval card. Its
`Idempotency-Key` becomes the tool call's key: a retried upload returns the first item.

An upload is checked twice: its declared type must be one we ingest, and its bytes must be
what that type claims (a PDF starts with `%PDF-`; text decodes as UTF-8, has no NUL bytes and
is not a PDF). PDFs become Markdown first (`pdf_to_markdown`, one section per page), off the
event loop.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel

from assistant.http.dependencies import Reader, ServicesDep, Writer
from assistant.http.problems import Problem, forbidden, problem_responses
from assistant.http.routes.chat import IdempotencyKey
from assistant.http.workspace_schemas import CitationOut, DocumentOut, SearchHitOut, SearchOut
from store.models.core import Workspace
from store.tenancy import scoped_session
from tools.context import Caller, ToolContext
from tools.invoke import invoke
from tools.knowledge.ingest import DocumentFormat, pdf_to_markdown
from tools.knowledge.items import MAX_CONTENT, ItemResult
from tools.knowledge.search import SearchKnowledgeResult
from tools.policy import overrides_from_settings, refusal

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"],
                   responses=problem_responses(401, 403, 422, 429))

PDF = "application/pdf"
TEXT_FORMATS = {
    "text/plain": DocumentFormat.TEXT,
    "text/markdown": DocumentFormat.MARKDOWN,
    "text/x-markdown": DocumentFormat.MARKDOWN,
    "text/html": DocumentFormat.HTML,
}
ACCEPTED = (PDF, *TEXT_FORMATS)
MAX_TAGS, MAX_TAG_CHARS, MAX_TITLE = 20, 50, 200


@router.post("/documents", status_code=201, summary="Upload a document to the knowledge base",
             responses=problem_responses(413, 415))
async def upload_document(
    principal: Writer, svc: ServicesDep,
    file: Annotated[UploadFile, File(description=f"The document: {', '.join(ACCEPTED)}.")],
    title: Annotated[str | None, Form(max_length=MAX_TITLE,
                                      description="Default: the file's name.")] = None,
    collection: Annotated[str | None, Form(
        max_length=200, description="An existing collection's name; default: 'General'.")] = None,
    tags: Annotated[str | None, Form(max_length=1100, description="Comma separated.")] = None,
    idempotency_key: IdempotencyKey = None,
) -> DocumentOut:
    media_type = _declared_type(file)
    data = await _read_limited(file, svc.settings.upload_max_bytes)
    content, fmt = await _content(data, media_type)
    args = {"name": _title(title, file.filename), "content": content, "format": fmt.value,
            "collection": collection, "tags": _tags(tags)}
    key = f"http:{principal.caller.user_id}:{idempotency_key or uuid.uuid4()}"
    result = await _run(svc, principal.caller, "create_document", args, key)
    assert isinstance(result, ItemResult)
    return DocumentOut(item=result.item, media_type=media_type, characters=len(content))


@router.get("/search", summary="Search the knowledge base: passages with citations")
async def search_knowledge(
    principal: Reader, svc: ServicesDep,
    q: Annotated[str, Query(min_length=1, max_length=500, description="Question or words")],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
    collection: Annotated[str | None, Query(max_length=200)] = None,
    tag: Annotated[str | None, Query(max_length=50)] = None,
    mode: Annotated[Literal["hybrid", "text", "vector"], Query(
        description="hybrid: words and meaning; text: exact words; vector: meaning")] = "hybrid",
) -> SearchOut:
    args = {"query": q, "k": limit, "collection": collection, "tag": tag, "mode": mode}
    result = await _run(svc, principal.caller, "search_knowledge", args,
                        f"http:search:{uuid.uuid4()}")
    assert isinstance(result, SearchKnowledgeResult)
    hits = [SearchHitOut(snippet=p.snippet, score=p.score, matched_by=p.matched_by,
                         citation=CitationOut(item_id=p.item_id, title=p.title,
                                              heading=p.heading, chunk_index=p.chunk_index))
            for p in result.results]
    return SearchOut(query=q, mode=result.mode, note=result.note, hits=hits)


async def _run(svc: ServicesDep, caller: Caller, name: str, args: Mapping[str, Any],
               key: str) -> BaseModel:
    """Invoke a registered tool as the caller, in one transaction bound to their workspace."""
    tool = svc.deps.registry.get(name)
    if tool is None:
        raise Problem(503, "Unavailable", f"the {name} tool is not installed")
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        workspace = await session.get(Workspace, caller.workspace_id)
        override = overrides_from_settings(workspace.settings if workspace else {}).get(name)
        reason = refusal(tool, caller, override)
        if reason is not None:
            raise forbidden(reason)
        ctx = ToolContext(caller, session, key, services=svc.deps.tool_services)
        return await invoke(tool, ctx, args, override=override)


def _declared_type(file: UploadFile) -> str:
    media_type = (file.content_type or "").split(";")[0].strip().lower()
    if media_type not in ACCEPTED:
        raise _unsupported(f"{media_type or 'a file without a type'} is not accepted; upload "
                           f"one of {', '.join(ACCEPTED)}")
    return media_type


async def _read_limited(file: UploadFile, limit: int) -> bytes:
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise Problem(413, "Payload Too Large", f"the file is over {limit:,} bytes",
                      kind="too-large")
    if not data.strip():
        raise Problem(422, "Invalid request", "the file is empty", kind="invalid")
    return data


async def _content(data: bytes, media_type: str) -> tuple[str, DocumentFormat]:
    """The text to store and its format, once the bytes proved to be what was declared."""
    if media_type == PDF:
        if not data.startswith(b"%PDF-"):
            raise _unsupported("the file is declared a PDF but does not start with %PDF-")
        content, fmt = await asyncio.to_thread(pdf_to_markdown, data), DocumentFormat.MARKDOWN
    else:
        content, fmt = _text(data, media_type), TEXT_FORMATS[media_type]
    if len(content) > MAX_CONTENT:
        raise Problem(413, "Payload Too Large", f"the document's text is {len(content):,} "
                      f"characters; at most {MAX_CONTENT:,} fit in one item", kind="too-large")
    return content, fmt


def _text(data: bytes, media_type: str) -> str:
    if data.startswith(b"%PDF-"):
        raise _unsupported(f"the file is a PDF, not {media_type}; send it as {PDF}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise _unsupported(f"the file is declared {media_type} but is not UTF-8 text") from None
    if "\x00" in text:
        raise _unsupported(f"the file is declared {media_type} but holds binary data")
    return text


def _unsupported(detail: str) -> Problem:
    return Problem(415, "Unsupported Media Type", detail, kind="unsupported-type")


def _title(title: str | None, filename: str | None) -> str:
    chosen = (title or "").strip() or PurePath(filename or "").stem.strip()
    return (chosen or "Untitled document")[:MAX_TITLE]


def _tags(raw: str | None) -> list[str]:
    names = list(dict.fromkeys(t.strip() for t in (raw or "").split(",") if t.strip()))
    if len(names) > MAX_TAGS:
        raise Problem(422, "Invalid request", f"at most {MAX_TAGS} tags", kind="invalid")
    if any(len(n) > MAX_TAG_CHARS for n in names):
        raise Problem(422, "Invalid request", f"a tag is at most {MAX_TAG_CHARS} characters",
                      kind="invalid")
    return names
