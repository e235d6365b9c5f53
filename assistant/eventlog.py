"""Sequencing, fan-out and storage of a conversation's events.

Every writer of a conversation's events holds the conversation's turn lock (`assistant.locks`),
so the `EventLog` of the running turn can assign `seq` in memory, hand each event to live
subscribers at once, and store events in batches at step boundaries instead of one INSERT per
text delta. A reader asking for "events after N" gets stored rows plus the running turn's
unflushed tail (`EventHub.after`), so nothing is missed.

Subscribers have bounded queues: a client too slow to keep up is cut off (its queue gets an
overflow marker) and must resume from its last `seq`, so one slow tab cannot grow memory.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from assistant.events import Event, from_row, to_row
from store.models.neptune import ConversationEvent
from store.repositories.neptune import ConversationEventRepository
from store.tenancy import WorkspaceScope

if TYPE_CHECKING:
    from assistant.relay import EventRelay

SUBSCRIBER_BUFFER = 1000
RELAY_CHANNEL = "neptune_events"


class SubscriberLagged(Exception):
    """The subscriber fell more than its buffer behind; resume from the last seq it saw."""


@dataclass(eq=False)
class Subscription:
    conversation_id: uuid.UUID
    queue: asyncio.Queue[Event | None] = field(
        default_factory=lambda: asyncio.Queue(SUBSCRIBER_BUFFER)
    )
    lagged: bool = False
    finished: bool = False

    def offer(self, event: Event) -> None:
        if self.lagged:
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True

    def close(self) -> None:
        """End iteration for this subscriber once it has read what is queued."""
        try:
            self.queue.put_nowait(None)
        except asyncio.QueueFull:
            self.lagged = True

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            if self.lagged and self.queue.empty():
                raise SubscriberLagged(str(self.conversation_id))
            item = await self.queue.get()
            if item is None:
                self.finished = True
                return
            yield item


class Stoppable(Protocol):
    async def stop(self) -> Any: ...


class EventHub:
    """In-process fan-out of live events, and the registry of running turns (their logs, and
    a handle to stop each from any channel)."""

    def __init__(self) -> None:
        self._subscribers: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._live: dict[uuid.UUID, EventLog] = {}
        self.running: dict[uuid.UUID, Stoppable] = {}
        self.relay: EventRelay | None = None

    def subscribe(self, conversation_id: uuid.UUID) -> Subscription:
        sub = Subscription(conversation_id)
        self._subscribers[conversation_id].add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.conversation_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.conversation_id]

    def attach(self, relay: EventRelay) -> None:
        """Share this process's events with other replicas, and receive theirs."""
        self.relay = relay
        relay.deliver = self.deliver
        relay.wanted = lambda conversation_id: conversation_id in self._subscribers

    def publish(self, event: Event, workspace_id: uuid.UUID | None = None) -> None:
        """A local turn's event: to this process's subscribers, and to other replicas."""
        self.deliver(event)
        if self.relay is not None and workspace_id is not None:
            self.relay.publish(workspace_id, event)

    def deliver(self, event: Event) -> None:
        for sub in list(self._subscribers.get(event.conversation_id, ())):
            sub.offer(event)

    def open_log(
        self, scope: WorkspaceScope, conversation_id: uuid.UUID, last_seq: int
    ) -> EventLog:
        log = EventLog(self, scope, conversation_id, last_seq)
        self._live[conversation_id] = log
        return log

    def close_log(self, log: EventLog) -> None:
        if self._live.get(log.conversation_id) is log:
            del self._live[log.conversation_id]

    async def after(
        self, session: AsyncSession, scope: WorkspaceScope, conversation_id: uuid.UUID,
        seq: int, *, limit: int = 500,
    ) -> list[Event]:
        """Stored events after `seq`, then the running turn's events not stored yet."""
        rows = await ConversationEventRepository(session, scope).after(
            conversation_id, seq, limit=limit
        )
        events = [from_row(conversation_id, r.seq, r.type, r.payload) for r in rows]
        live = self._live.get(conversation_id)
        if live is not None and len(events) < limit:
            newest = events[-1].seq if events else seq
            events.extend(e for e in live.pending if e.seq > newest)
        return events[:limit]


class EventLog:
    """The running turn's event sequence: numbers, publishes and batches events for storage."""

    def __init__(self, hub: EventHub, scope: WorkspaceScope, conversation_id: uuid.UUID,
                 last_seq: int) -> None:
        self.hub, self.scope, self.conversation_id = hub, scope, conversation_id
        self.seq = last_seq
        self.pending: list[Event] = []

    def emit(self, event: Event) -> Event:
        self.seq += 1
        numbered: Event = event.model_copy(update={"seq": self.seq})
        self.pending.append(numbered)
        self.hub.publish(numbered, self.scope.workspace_id)
        return numbered

    def make(self, cls: type[Any], **fields: Any) -> Event:
        """Build and emit an event of this conversation."""
        event: Event = cls(conversation_id=self.conversation_id, **fields)
        return self.emit(event)

    async def flush(self, session: AsyncSession) -> None:
        """Store the pending events in the caller's transaction, with their assigned seqs."""
        if not self.pending:
            return
        rows = []
        for event in self.pending:
            kind, payload = to_row(event)
            rows.append({"id": uuid.uuid4(), "workspace_id": self.scope.workspace_id,
                         "conversation_id": self.conversation_id, "seq": event.seq,
                         "type": kind, "payload": payload})
        await session.execute(sa.insert(ConversationEvent).values(rows))
        relay = self.hub.relay
        if relay is not None:  # delivered on commit, when the rows are visible
            marker = relay.stored_marker(self.scope.workspace_id, self.conversation_id,
                                         self.pending[-1].seq)
            await session.execute(sa.select(sa.func.pg_notify(RELAY_CHANNEL, marker)))
        self.pending = []
