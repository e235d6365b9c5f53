"""OpenAI-compatible endpoints: `POST /v1/chat/completions` (JSON or streamed) and
`GET /v1/models`, so an OpenAI SDK pointed at `{base}/v1` talks to Neptune unchanged.

The bearer credential (access key or JWT) picks the workspace and the member, as everywhere
else; the body's `user` field identifies nobody. The model id is `neptune`: Neptune runs a
normal turn on the `api` channel, calls its own tools server-side, and answers with text only.
A client's `tools` are refused (400) for that reason.

OpenAI clients resend the whole history with every request, and Neptune keeps history itself.
The two meet through `ai_conversations.external_key`: after an answer, the conversation's key
becomes `openai:` + a hash of the member and the history so far (the new user message and the
answer included), so the next request, whose earlier messages are exactly that history, finds
the conversation and only its last message is sent to the turn. When the earlier messages
match no conversation (they started elsewhere, or the client edited or regenerated them), a new
conversation starts and its first message carries a short transcript of the most recent earlier
messages (bounded, see `openai_wire.with_transcript`), so the model still has the gist.

A streamed answer carries every model step's text as it arrives (steps separated by a blank
line); a JSON answer carries the final step's text. Either way an answer waiting for approval
ends with a line per pending action naming `POST /v1/approvals/{id}/approve`. Errors keep the
platform's problem+json body and add OpenAI's `error` object to it, so the SDK's exceptions
show the message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from assistant import events as ev
from assistant.http import openai_wire as wire
from assistant.http import streaming
from assistant.http.dependencies import Chatter, Reader, ServicesDep
from assistant.http.openai_wire import Said
from assistant.http.problems import Problem, as_problem, problem_responses
from assistant.http.schemas import TurnResult
from assistant.runtime import Turn
from store.errors import Conflict, NotFound
from store.models.ai import AiConversation, Channel
from store.models.core import Workspace
from store.repositories.ai import ConversationRepository
from store.tenancy import scoped_session
from tools.context import Caller

log = logging.getLogger(__name__)
HEARTBEAT = streaming.HEARTBEAT


class OpenAIRoute(APIRoute):
    """Renders every error of these routes (auth, validation, domain) with the `error` object
    OpenAI clients read, on top of the platform's problem body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return wire.respond(wire.invalid(exc))
            except Exception as exc:
                problem = as_problem(exc)
                if problem is None:
                    log.exception("unhandled error on %s %s", request.method, request.url.path)
                    problem = Problem(500, "Internal error", "something went wrong on our side")
                return wire.respond(problem)

        return answer


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute,
                   responses=problem_responses(401, 403, 429))
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {200: {
    "description": "A `chat.completion` object, or with `stream: true` a Server-Sent Events "
                   "stream of `chat.completion.chunk` objects ending with `data: [DONE]`.",
    "content": {"text/event-stream": {"schema": {"type": "string"}}}}}


@router.get("/models", summary="The models this endpoint serves (OpenAI format)")
async def list_models(principal: Reader, svc: ServicesDep) -> wire.ModelList:
    return wire.ModelList(data=[await _card(svc, principal.caller)])


@router.get("/models/{model_id}", summary="One model (OpenAI format)",
            responses=problem_responses(404))
async def get_model(model_id: str, principal: Reader, svc: ServicesDep) -> wire.ModelCard:
    if model_id != wire.MODEL_ID:
        raise Problem(404, "Not Found", f"The model {model_id!r} does not exist.",
                      kind="model-not-found")
    return await _card(svc, principal.caller)


@router.post("/chat/completions", summary="Chat with Neptune (OpenAI chat completions)",
             response_model=wire.ChatCompletion,
             responses={**STREAM_RESPONSE, **problem_responses(400, 404, 409, 422, 502, 504)})
async def chat_completions(body: wire.ChatRequest, principal: Chatter,
                           svc: ServicesDep) -> Response | wire.ChatCompletion:
    said = wire.check(body)
    exchange = await _open(svc, principal.caller, said)
    turn = await svc.runtime.send(principal.caller, exchange.conversation_id, exchange.text)
    if body.stream:
        return StreamingResponse(
            _stream(svc, exchange, turn, body.include_usage),
            media_type=streaming.SSE_MEDIA_TYPE,
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    result = await streaming.collect(turn)
    if result.status == "error":
        raise wire.turn_failed(_error_code(result.events), result.error or "the turn failed")
    answer = wire.joined(result.text, wire.approval_note(result.events))
    await _remember(svc, exchange, answer)
    return wire.ChatCompletion(
        id=wire.completion_id(result.turn_id), created=int(time.time()),
        choices=[wire.Choice(message=wire.AssistantMessage(content=answer))],
        usage=wire.usage_of(result.events), neptune=_meta(result))


# -- conversations ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    """One request mapped onto Neptune: the conversation, what the turn is told, and the
    client's history (ending with the new user message)."""

    caller: Caller
    conversation_id: uuid.UUID
    text: str
    history: list[Said]


async def _open(svc: ServicesDep, caller: Caller, said: list[Said]) -> Exchange:
    """The conversation the earlier messages belong to, or a new one told about them."""
    earlier, text = said[:-1], said[-1][1]
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = ConversationRepository(session, caller.scope)
        found = await _continued(repo, caller, earlier)
        if found is not None:
            return Exchange(caller, found.id, text, said)
        row: AiConversation = await repo.create(
            user_id=caller.user_id, channel=Channel.API, title=wire.title_for(said))
    return Exchange(caller, row.id, wire.with_transcript(earlier, text), said)


async def _continued(repo: ConversationRepository, caller: Caller,
                     earlier: list[Said]) -> AiConversation | None:
    if not earlier:
        return None  # a first message always starts a conversation
    found = await repo.by_external_key(wire.history_key(caller.user_id, earlier))
    return found if found is not None and found.user_id == caller.user_id else None


async def _remember(svc: ServicesDep, exchange: Exchange, answer: str) -> None:
    """Key the conversation by the history the client now holds, taking the key from an older
    conversation that had the same history (the newest one continues). Losing the key to a
    concurrent twin, or the conversation to a delete, costs only the continuation."""
    caller = exchange.caller
    key = wire.history_key(caller.user_id, [*exchange.history, ("assistant", answer)])
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        repo = ConversationRepository(session, caller.scope)
        holder = await repo.by_external_key(key)
        if holder is not None and holder.id != exchange.conversation_id:
            await repo.update(holder.id, external_key=None)
        try:
            await repo.update(exchange.conversation_id, external_key=key)
        except (NotFound, Conflict) as exc:
            log.info("conversation %s not re-keyed: %s", exchange.conversation_id, exc)


async def _card(svc: ServicesDep, caller: Caller) -> wire.ModelCard:
    """`neptune`, naming the model the workspace's turns use (its setting, else the default)."""
    async with scoped_session(svc.deps.database.sessions, caller.scope) as session:
        settings = await session.scalar(
            sa.select(Workspace.settings).where(Workspace.id == caller.workspace_id))
    chosen = (settings or {}).get("model") or svc.deps.settings.model
    return wire.ModelCard(neptune={"model": str(chosen)})


# -- turns ------------------------------------------------------------------------------------
def _meta(result: TurnResult) -> wire.NeptuneMeta:
    return wire.NeptuneMeta(conversation_id=result.conversation_id, turn_id=result.turn_id,
                            status=result.status, pending_approvals=result.pending_approvals)


def _error_code(events: list[ev.Event]) -> str:
    errors = [e for e in events if isinstance(e, ev.Error)]
    return errors[-1].code if errors else "internal_error"


async def _stream(svc: ServicesDep, exchange: Exchange, turn: Turn,
                  include_usage: bool) -> AsyncIterator[bytes]:
    """The turn as `chat.completion.chunk` events. The conversation is re-keyed before the
    last chunk, so a client that sends its next message on `[DONE]` finds it."""
    chunks = wire.Chunks(wire.completion_id(turn.id), int(time.time()), include_usage)
    answer, seen = wire.Answer(), []
    yield chunks.delta({"role": "assistant", "content": ""})
    async with turn, aclosing(streaming.paced(turn)) as events:
        async for event in events:
            if event is None:
                yield b": keep-alive\n\n"
                continue
            seen.append(event)
            if piece := answer.take(event):
                yield chunks.delta({"content": piece})
        outcome = await turn.wait()
    result = streaming.result_of(outcome, seen)
    if result.status == "error":
        problem = wire.turn_failed(_error_code(seen), result.error or "the turn failed")
        yield wire.sse({"error": wire.error_object(problem)})
        return
    if piece := answer.add(wire.approval_note(seen)):
        yield chunks.delta({"content": piece})
    await _remember(svc, exchange, answer.text)
    yield chunks.delta({}, "stop", neptune=_meta(result).model_dump(mode="json"))
    if include_usage:
        yield chunks.usage(wire.usage_of(seen))
    yield wire.sse("[DONE]")
