"""Conversations and their messages: CRUD, post a message (JSON or SSE), events after a seq."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from assistant.http import streaming
from assistant.http.auth import Principal
from assistant.http.dependencies import Chatter, Reader, ServicesDep
from assistant.http.problems import Problem, problem_responses
from assistant.http.schemas import (
    ConversationCreate,
    ConversationDetailOut,
    ConversationOut,
    ConversationPage,
    ConversationPatch,
    EventsOut,
    MessageIn,
    MessageOut,
    ToolCallOut,
    TurnResult,
)
from store import idempotency
from store.tenancy import scoped_session

router = APIRouter(prefix="/v1/conversations", tags=["conversations"],
                   responses=problem_responses(401, 403, 404, 422, 429))
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", max_length=idempotency.MAX_KEY_LENGTH,
    description="Makes a retried request return the first answer and store nothing twice.")]

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "The turn's result (JSON), or its events as Server-Sent Events when the "
                   "request accepts `text/event-stream`.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.post("", status_code=201, summary="Start a conversation")
async def create_conversation(principal: Chatter, svc: ServicesDep,
                              body: ConversationCreate | None = None) -> ConversationOut:
    row = await svc.conversations.create(principal.caller, title=body.title if body else None)
    return ConversationOut.of(row)


@router.get("", summary="The caller's conversations, latest activity first")
async def list_conversations(
    principal: Reader, svc: ServicesDep,
    archived: Annotated[bool | None, Query(description="true: archived only; omit: live")] = False,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ConversationPage:
    page = await svc.conversations.list(principal.caller, archived=archived, limit=limit,
                                        cursor=cursor)
    return ConversationPage(items=[ConversationOut.of(r) for r in page.items],
                            next_cursor=page.next_cursor)


@router.get("/{conversation_id}", summary="A conversation with its messages and tool calls")
async def get_conversation(conversation_id: uuid.UUID, principal: Reader,
                           svc: ServicesDep) -> ConversationDetailOut:
    detail = await svc.conversations.get(principal.caller, conversation_id)
    return ConversationDetailOut(
        **ConversationOut.of(detail.conversation).model_dump(),
        messages=[MessageOut.of(m) for m in detail.messages],
        tool_calls=[ToolCallOut.of(c) for c in detail.tool_calls])


@router.patch("/{conversation_id}", summary="Rename, pin or archive a conversation")
async def update_conversation(conversation_id: uuid.UUID, body: ConversationPatch,
                              principal: Chatter, svc: ServicesDep) -> ConversationOut:
    caller, conversations = principal.caller, svc.conversations
    row = None
    if body.title is not None:
        row = await conversations.rename(caller, conversation_id, body.title)
    if body.pinned is not None:
        row = await conversations.pin(caller, conversation_id, body.pinned)
    if body.archived is not None:
        row = await conversations.archive(caller, conversation_id, body.archived)
    if row is None:
        row = (await conversations.get(caller, conversation_id)).conversation
    return ConversationOut.of(row)


@router.delete("/{conversation_id}", status_code=204, summary="Delete a conversation")
async def delete_conversation(conversation_id: uuid.UUID, principal: Chatter,
                              svc: ServicesDep) -> Response:
    await svc.conversations.delete(principal.caller, conversation_id)
    return Response(status_code=204)


@router.get("/{conversation_id}/events", summary="Events after a seq (to resume a stream)")
async def events_after(
    conversation_id: uuid.UUID, principal: Reader, svc: ServicesDep,
    after: Annotated[int, Query(ge=0, description="the last seq the client saw")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> EventsOut:
    await svc.conversations.get(principal.caller, conversation_id)  # 404 unless the caller's
    events = await svc.runtime.events_after(principal.caller, conversation_id, after,
                                            limit=limit)
    return EventsOut(events=events, last_seq=events[-1].seq if events else after)


@router.post("/{conversation_id}/messages", summary="Send a message and get Neptune's answer",
             responses={**SSE_RESPONSE, **problem_responses(409)})
async def post_message(conversation_id: uuid.UUID, body: MessageIn, request: Request,
                       principal: Chatter, svc: ServicesDep,
                       idempotency_key: IdempotencyKey = None) -> TurnResult:
    wants_stream = streaming.SSE_MEDIA_TYPE in request.headers.get("accept", "")
    claim = None
    if idempotency_key:
        claim = await _claim(svc, principal, idempotency_key, request, body)
        if not claim.fresh:
            return _repeat(claim, wants_stream)  # type: ignore[return-value]
    try:
        turn = await svc.runtime.send(principal.caller, conversation_id, body.text,
                                      page=body.page)
    except BaseException:
        if claim is not None:
            await _release(svc, principal, claim.id)
        raise

    async def remember(result: TurnResult) -> None:
        if claim is not None:
            await _record(svc, principal, claim.id, result)

    if wants_stream:
        return StreamingResponse(  # type: ignore[return-value]
            streaming.stream(turn, remember), media_type=streaming.SSE_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    result = await streaming.collect(turn)
    await remember(result)
    return result


def _request_hash(request: Request, body: MessageIn) -> str:
    canonical = json.dumps([request.method, request.url.path, body.model_dump(mode="json")],
                           sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def _claim(svc: ServicesDep, principal: Principal, key: str, request: Request,
                 body: MessageIn) -> idempotency.Claim:
    digest = _request_hash(request, body)
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        claim = await idempotency.claim(session, principal.caller.user_id, key, digest)
    if not claim.fresh and claim.request_hash != digest:
        raise Problem(422, "Idempotency-Key reused", "this Idempotency-Key was used for a "
                      "different request; use a new key for a new request", kind="idempotency")
    if not claim.fresh and not claim.answered:
        raise Problem(409, "Still working", "the first request with this Idempotency-Key is "
                      "still being answered; retry shortly", kind="in-progress",
                      headers={"Retry-After": "1"})
    return claim


def _repeat(claim: idempotency.Claim, wants_stream: bool) -> Response:
    assert claim.response is not None and claim.status_code is not None
    headers = {"Idempotent-Replayed": "true"}
    if wants_stream:
        result = TurnResult.model_validate(claim.response)
        return StreamingResponse(iter(streaming.replay(result)),
                                 media_type=streaming.SSE_MEDIA_TYPE, headers=headers)
    return JSONResponse(claim.response, status_code=claim.status_code, headers=headers)


async def _record(svc: ServicesDep, principal: Principal, claim_id: uuid.UUID,
                  result: TurnResult) -> None:
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        await idempotency.record(session, claim_id, 200, result.model_dump(mode="json"))


async def _release(svc: ServicesDep, principal: Principal, claim_id: uuid.UUID) -> None:
    async with scoped_session(svc.deps.database.sessions, principal.caller.scope) as session:
        await idempotency.release(session, claim_id)
