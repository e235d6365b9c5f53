"""Live events across API replicas, through PostgreSQL LISTEN/NOTIFY.

A turn runs in the replica that received its message; a tab following the conversation may hold
its socket on another. Each replica's relay forwards the events its turns emit on channel
`neptune_events` (batched per conversation, up to PostgreSQL's payload limit) and hands events
from other replicas to its own subscribers. An event too large for a notification travels as a
placeholder: the receiving relay holds that conversation's later events until the event log's
flush, which announces "stored up to seq S" in the same transaction as the rows (so the rows
are visible when the announcement arrives), then reads the gap from the database and delivers
everything in order. Subscribers already drop seqs they have seen, so a resume racing with the
relay neither loses nor repeats an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from assistant.eventlog import RELAY_CHANNEL as CHANNEL
from assistant.events import EVENT_ADAPTER, Event, from_row
from store.bootstrap import connect
from store.repositories.neptune import ConversationEventRepository
from store.tenancy import WorkspaceScope, scoped_session

log = logging.getLogger(__name__)
PAYLOAD_LIMIT = 7_000  # bytes; PostgreSQL refuses notifications of 8,000 bytes or more


@dataclass
class _Inbound:
    """Another replica's events for one conversation, held while a gap is being filled."""

    waiting_from: int | None = None
    held: list[dict[str, Any]] = field(default_factory=list)
    filling: bool = False


class EventRelay:
    def __init__(self, url: URL, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.url, self.sessions = url, sessions
        self.origin = uuid.uuid4().hex[:12]
        self.deliver: Any = None  # set by EventHub.attach: local fan-out of one event
        self.wanted: Any = None  # set by EventHub.attach: does anyone here follow this id?
        self._outbox: asyncio.Queue[tuple[uuid.UUID, Event]] = asyncio.Queue()
        self._inbound: dict[uuid.UUID, _Inbound] = defaultdict(_Inbound)
        self._conn: asyncpg.Connection[Any] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._conn = await connect(self.url)
        await self._conn.add_listener(CHANNEL, self._on_notify)
        self._spawn(self._send_loop())

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()

    # -- outbound ---------------------------------------------------------------------------
    def publish(self, workspace_id: uuid.UUID, event: Event) -> None:
        self._outbox.put_nowait((workspace_id, event))

    def stored_marker(self, workspace_id: uuid.UUID, conversation_id: uuid.UUID,
                      seq: int) -> str:
        """The payload the event log sends in its flush transaction."""
        return json.dumps({"o": self.origin, "w": str(workspace_id),
                           "c": str(conversation_id), "stored": seq})

    async def _send_loop(self) -> None:
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            for payload in self._payloads(batch):
                try:
                    assert self._conn is not None
                    await self._conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)
                except Exception:
                    log.exception("could not relay events to other replicas")

    def _payloads(self, batch: list[tuple[uuid.UUID, Event]]) -> list[str]:
        grouped: dict[tuple[uuid.UUID, uuid.UUID], list[dict[str, Any]]] = defaultdict(list)
        for workspace_id, event in batch:
            item = event.model_dump(mode="json")
            if len(json.dumps(item)) > PAYLOAD_LIMIT - 200:
                item = {"seq": event.seq, "big": True}
            grouped[(workspace_id, event.conversation_id)].append(item)
        payloads = []
        for (workspace_id, conversation_id), items in grouped.items():
            head = {"o": self.origin, "w": str(workspace_id), "c": str(conversation_id)}
            base = len(json.dumps({**head, "e": []}))
            chunk: list[dict[str, Any]] = []
            size = base
            for item in items:
                item_size = len(json.dumps(item)) + 2  # the item and its separator
                if chunk and size + item_size > PAYLOAD_LIMIT:
                    payloads.append(json.dumps({**head, "e": chunk}))
                    chunk, size = [], base
                chunk.append(item)
                size += item_size
            payloads.append(json.dumps({**head, "e": chunk}))
        return payloads

    # -- inbound ----------------------------------------------------------------------------
    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: object) -> None:
        try:
            message = json.loads(str(payload))
            conversation_id = uuid.UUID(message["c"])
        except (ValueError, KeyError, TypeError):
            return
        if message.get("o") == self.origin or not self.wanted(conversation_id):
            return
        state = self._inbound[conversation_id]
        if "stored" in message:
            self._stored(state, uuid.UUID(message["w"]), conversation_id, int(message["stored"]))
            return
        for item in message.get("e", []):
            self._arrived(state, item)

    def _arrived(self, state: _Inbound, item: dict[str, Any]) -> None:
        if state.waiting_from is not None:
            state.held.append(item)
        elif item.get("big"):
            state.waiting_from = int(item["seq"])
        else:
            self.deliver(EVENT_ADAPTER.validate_python(item))

    def _stored(self, state: _Inbound, workspace_id: uuid.UUID, conversation_id: uuid.UUID,
                seq: int) -> None:
        if state.waiting_from is None or seq < state.waiting_from or state.filling:
            return
        state.filling = True
        self._spawn(self._fill(state, WorkspaceScope(workspace_id), conversation_id, seq))

    async def _fill(self, state: _Inbound, scope: WorkspaceScope, conversation_id: uuid.UUID,
                    upto: int) -> None:
        assert state.waiting_from is not None
        try:
            async with scoped_session(self.sessions, scope) as session:
                rows = await ConversationEventRepository(session, scope).after(
                    conversation_id, state.waiting_from - 1, limit=1000)
            delivered = state.waiting_from - 1
            for row in rows:
                if row.seq <= upto:
                    self.deliver(from_row(conversation_id, row.seq, row.type, row.payload))
                    delivered = row.seq
            held, state.held = state.held, []
            state.waiting_from = None
            for item in held:  # may meet the next large event and wait again
                if int(item["seq"]) > delivered:
                    self._arrived(state, item)
        finally:
            state.filling = False
            if not self.wanted(conversation_id):
                self._inbound.pop(conversation_id, None)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
