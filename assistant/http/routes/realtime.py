"""The widget's live channel: WebSocket tickets, `/v1/ws`, and stopping a running turn.

Protocol (JSON text frames). The client connects to `/v1/ws?ticket=...` with a ticket from
`POST /v1/ws/tickets` and gets `hello`. Client frames:

- `{"type": "user_message", "conversation_id"?: id, "text": str, "page"?: {...}, "ref"?: str}`
  (no conversation id: one is created and announced with `conversation.created`);
- `{"type": "resume", "conversation_id": id, "after_seq": n}`: the events after `n`, then live;
- `{"type": "stop", "conversation_id": id}`;
- `{"type": "approve" | "reject", "pending_action_id": id, "notes"?: str}`;
- `{"type": "ping"}`.

Server frames: the runtime's events (each with `seq` and `conversation_id`; every turn ends with
`turn.completed`, after which the next message can be sent), plus `hello`,
`conversation.created`, `decision` (an agent's or grid's action was decided), `ping`/`pong`, and
`{"type": "error", "code", "message", "ref"}` for a frame that could not be done (the socket
stays open). Every socket following a conversation receives its events, so several tabs stay in
step. Each socket has a bounded send buffer: a client that cannot keep up is closed with 1013
and resumes from the last seq it saw. Close codes: 4401 bad or expired ticket, 4403 the
credential may not chat, 1009 frame too large.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from assistant import decisions
from assistant.approvals import ApprovalRefused
from assistant.context import PageContext
from assistant.eventlog import SubscriberLagged, Subscription
from assistant.http.app import Services
from assistant.http.auth import Principal
from assistant.http.dependencies import Chatter, ServicesDep
from assistant.http.problems import Problem, as_problem, problem_responses
from assistant.runtime import MAX_MESSAGE_CHARS, Turn
from store.access_keys import KeyScope

log = logging.getLogger(__name__)
router = APIRouter(tags=["realtime"])

CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN, CLOSE_TOO_BIG, CLOSE_SLOW = 4401, 4403, 1009, 1013


class TicketOut(BaseModel):
    ticket: str
    expires_at: datetime
    url: str = Field(description="Path to open the WebSocket with (append to the host)")


class StopOut(BaseModel):
    stopped: bool


@router.post("/v1/ws/tickets", summary="A short-lived ticket to open the WebSocket with",
             responses=problem_responses(401, 403, 429))
async def create_ticket(principal: Chatter, svc: ServicesDep) -> TicketOut:
    ticket, expires = svc.auth.issue_ticket(principal)
    return TicketOut(ticket=ticket, expires_at=datetime.fromtimestamp(expires, UTC),
                     url=f"/v1/ws?ticket={ticket}")


@router.post("/v1/conversations/{conversation_id}/stop", tags=["conversations"],
             summary="Stop the conversation's running turn (the partial answer is kept)",
             responses=problem_responses(401, 403, 404, 429))
async def stop_turn(conversation_id: uuid.UUID, principal: Chatter,
                    svc: ServicesDep) -> StopOut:
    return StopOut(stopped=await svc.runtime.stop(principal.caller, conversation_id))


# -- client frames ------------------------------------------------------------------------------
class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ref: str | None = Field(default=None, max_length=100)


class UserMessage(_Frame):
    type: Literal["user_message"]
    conversation_id: uuid.UUID | None = None
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    page: PageContext | None = None


class Resume(_Frame):
    type: Literal["resume"]
    conversation_id: uuid.UUID
    after_seq: int = Field(default=0, ge=0)


class Stop(_Frame):
    type: Literal["stop"]
    conversation_id: uuid.UUID


class Decide(_Frame):
    type: Literal["approve", "reject"]
    pending_action_id: uuid.UUID
    notes: str | None = Field(default=None, max_length=2000)


class Ping(_Frame):
    type: Literal["ping", "pong"]


ClientFrame = Annotated[UserMessage | Resume | Stop | Decide | Ping, Field(discriminator="type")]
FRAME: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


@router.websocket("/v1/ws")
async def websocket(websocket: WebSocket,
                    ticket: Annotated[str, Query(max_length=4096)] = "") -> None:
    svc: Services = websocket.app.state.services
    await websocket.accept()
    try:
        principal = await svc.auth.ticket(ticket, channel="web")
    except Problem as problem:
        await websocket.close(CLOSE_UNAUTHORIZED, (problem.detail or "unauthorized")[:120])
        return
    if not principal.allows(KeyScope.CHAT):
        await websocket.close(CLOSE_FORBIDDEN, "this credential may not chat")
        return
    await Connection(websocket, svc, principal).run()


class _Slow(Exception):
    pass


class Connection:
    """One socket: its receive loop, its bounded send queue and the conversations it follows."""

    def __init__(self, websocket: WebSocket, svc: Services, principal: Principal) -> None:
        self.ws, self.svc, self.principal = websocket, svc, principal
        self.caller = principal.caller
        self.outbox: asyncio.Queue[str] = asyncio.Queue(svc.settings.ws_send_buffer)
        self.following: dict[uuid.UUID, tuple[Subscription, asyncio.Task[None]]] = {}
        self.tasks: set[asyncio.Task[Any]] = set()
        self.slow = asyncio.Event()

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        beat = asyncio.create_task(self._heartbeat())
        receiver = asyncio.create_task(self._receive_loop())
        slow = asyncio.create_task(self.slow.wait())
        try:
            await asyncio.wait({sender, receiver, slow}, return_when=asyncio.FIRST_COMPLETED)
            if self.slow.is_set():
                with contextlib.suppress(Exception):
                    await self.ws.close(CLOSE_SLOW, "client too slow; reconnect and resume")
        finally:
            for task in (sender, beat, receiver, slow):
                task.cancel()
            for subscription, forward in self.following.values():
                forward.cancel()
                self.svc.deps.hub.unsubscribe(subscription)
            # Turns started from this socket go on: another tab, or this one after a
            # reconnect, picks their events up with `resume`.

    # -- sending ----------------------------------------------------------------------------
    def send(self, frame: dict[str, Any] | BaseModel) -> None:
        text = frame.model_dump_json() if isinstance(frame, BaseModel) else _json(frame)
        try:
            self.outbox.put_nowait(text)
        except asyncio.QueueFull:
            self.slow.set()

    async def _send_loop(self) -> None:
        while True:
            await self.ws.send_text(await self.outbox.get())

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.svc.settings.ws_heartbeat_seconds)
            self.send({"type": "ping", "at": datetime.now(UTC).isoformat()})

    def error(self, code: str, message: str, ref: str | None = None) -> None:
        self.send({"type": "error", "code": code, "message": message, "ref": ref})

    # -- receiving --------------------------------------------------------------------------
    async def _receive_loop(self) -> None:
        limit = self.svc.settings.ws_max_frame_bytes
        with contextlib.suppress(WebSocketDisconnect):
            self.send({"type": "hello", "workspace_id": str(self.caller.workspace_id),
                       "user_id": str(self.caller.user_id),
                       "heartbeat_seconds": self.svc.settings.ws_heartbeat_seconds})
            while True:
                text = await self.ws.receive_text()
                if len(text.encode()) > limit:
                    await self.ws.close(CLOSE_TOO_BIG, f"frames are at most {limit} bytes")
                    return
                try:
                    frame = FRAME.validate_json(text)
                except ValidationError as exc:
                    self.error("invalid_frame", _first_error(exc))
                    continue
                self._spawn(self._handle(frame))

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _handle(self, frame: ClientFrame) -> None:
        try:
            match frame:
                case UserMessage():
                    await self._user_message(frame)
                case Resume():
                    await self.svc.conversations.owned(self.caller, frame.conversation_id)
                    await self._follow(frame.conversation_id, frame.after_seq)
                case Stop():
                    await self.svc.runtime.stop(self.caller, frame.conversation_id)
                case Decide():
                    await self._decide(frame)
                case Ping(type="ping"):
                    self.send({"type": "pong", "ref": frame.ref})
        except Exception as exc:  # every failure becomes an error frame; the socket stays
            problem = as_problem(exc)
            if isinstance(exc, ApprovalRefused):
                problem = Problem(403, "Forbidden", str(exc))
            if problem is None:
                log.exception("websocket frame failed")
                problem = Problem(500, "Internal error", "something went wrong on our side")
            code = (problem.kind or problem.title).lower().replace(" ", "_").replace("-", "_")
            self.error(code, problem.detail or problem.title, frame.ref)

    async def _user_message(self, frame: UserMessage) -> None:
        await self.svc.limiter.spend(self.principal)
        conversation_id = frame.conversation_id
        if conversation_id is None:
            row = await self.svc.conversations.create(self.caller, title=frame.text[:60])
            conversation_id = row.id
            self.send({"type": "conversation.created", "conversation_id": str(row.id),
                       "title": row.title, "ref": frame.ref})
        else:
            await self.svc.conversations.owned(self.caller, conversation_id)
        await self._follow(conversation_id, None)
        turn = await self.svc.runtime.send(self.caller, conversation_id, frame.text,
                                           page=frame.page)
        await _drain(turn)

    async def _decide(self, frame: Decide) -> None:
        decision = await decisions.decide(self.svc.deps, self.caller, frame.pending_action_id,
                                          approve=frame.type == "approve", notes=frame.notes)
        if decision.turn is not None:
            await self._follow(decision.turn.conversation_id, None)
            await _drain(decision.turn)
            return
        status = decision.report.status if decision.report else (
            decision.resolution.outcome.status if decision.resolution else "unknown")
        self.send({"type": "decision", "pending_action_id": str(frame.pending_action_id),
                   "decision": "approved" if frame.type == "approve" else "rejected",
                   "kind": decision.kind, "tool": decision.tool, "status": status,
                   "ref": frame.ref})

    # -- following conversations ------------------------------------------------------------
    async def _follow(self, conversation_id: uuid.UUID, after_seq: int | None) -> None:
        """Send the conversation's live events to this socket (after `after_seq`'s backlog).
        Subscribing first, then reading the backlog, leaves no gap; seqs drop duplicates."""
        if conversation_id in self.following:
            if after_seq is None:
                return
            subscription, forward = self.following.pop(conversation_id)
            forward.cancel()
            self.svc.deps.hub.unsubscribe(subscription)
        subscription = self.svc.deps.hub.subscribe(conversation_id)
        backlog = [] if after_seq is None else await self._backlog(conversation_id, after_seq)
        forward = asyncio.create_task(self._forward(subscription, backlog, after_seq or 0))
        self.following[conversation_id] = (subscription, forward)

    async def _backlog(self, conversation_id: uuid.UUID, after_seq: int) -> list[Any]:
        """Every event after `after_seq`, page by page (a long absence is not truncated)."""
        events: list[Any] = []
        while True:
            page = await self.svc.runtime.events_after(self.caller, conversation_id, after_seq,
                                                       limit=1000)
            events.extend(page)
            if len(page) < 1000:
                return events
            after_seq = page[-1].seq

    async def _forward(self, subscription: Subscription, backlog: list[Any], last: int) -> None:
        for event in backlog:
            self.send(event)
            last = event.seq
        try:
            async for event in subscription:
                if event.seq > last:
                    self.send(event)
                    last = event.seq
        except SubscriberLagged:
            self.slow.set()


async def _drain(turn: Turn) -> None:
    """Run the turn to its end; its events reach sockets through their own subscriptions."""
    async with turn:
        async for _ in turn:
            pass
        await turn.wait()


def _json(frame: dict[str, Any]) -> str:
    import json

    return json.dumps(frame, default=str, separators=(",", ":"))


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid frame"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    return f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
