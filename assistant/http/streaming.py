"""Turns as HTTP answers: collected into one JSON result, or streamed as Server-Sent Events.

An SSE frame is `id: <seq>`, `event: <type>`, `data: <event JSON>`; a comment line every
`HEARTBEAT` seconds keeps proxies from closing a quiet stream, and a final `done` event carries
the turn's result. The client going away ends the turn the way a stop does (the partial answer
is kept), because the runtime treats leaving the turn early as a disconnect.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import aclosing

from assistant import events as ev
from assistant.http.schemas import TurnResult
from assistant.runtime import Turn
from assistant.turn import TurnOutcome

HEARTBEAT = 15.0
SSE_MEDIA_TYPE = "text/event-stream"


def result_of(outcome: TurnOutcome, events: list[ev.Event]) -> TurnResult:
    pending = [e.pending_action_id for e in events if isinstance(e, ev.ApprovalRequired)]
    status = outcome.status
    if pending and status == "complete":
        status = "awaiting_approval"  # type: ignore[assignment]
    seqs = [e.seq for e in events] or [0]
    return TurnResult(turn_id=outcome.turn_id, conversation_id=outcome.conversation_id,
                      status=status, message_id=outcome.message_id, text=outcome.text,
                      error=outcome.error, pending_approvals=pending, first_seq=min(seqs),
                      last_seq=max(seqs), events=events)


async def collect(turn: Turn) -> TurnResult:
    async with turn:
        events = await turn.collect()
        outcome = await turn.wait()
    return result_of(outcome, events)


def frame(event: ev.Event) -> bytes:
    return (f"id: {event.seq}\nevent: {event.type}\n"
            f"data: {event.model_dump_json()}\n\n").encode()


def done_frame(result: TurnResult) -> bytes:
    summary = result.model_dump(mode="json", exclude={"events"})
    return f"event: done\ndata: {json.dumps(summary)}\n\n".encode()


async def stream(turn: Turn, on_done: Callable[[TurnResult], Awaitable[None]] | None = None
                 ) -> AsyncIterator[bytes]:
    """The turn's events as SSE; `on_done` gets the result even when the client left early."""
    seen: list[ev.Event] = []
    try:
        async with turn, aclosing(paced(turn)) as events:
            async for event in events:
                if event is None:
                    yield b": heartbeat\n\n"
                    continue
                seen.append(event)
                yield frame(event)
            outcome = await turn.wait()
        yield done_frame(result_of(outcome, seen))
    finally:
        if turn.done and on_done is not None:
            await asyncio.shield(on_done(result_of(await turn.wait(), seen)))


async def paced(turn: Turn) -> AsyncGenerator[ev.Event | None, None]:
    """The turn's events, with None whenever `HEARTBEAT` seconds pass without one (time to
    say something so proxies keep a quiet stream open). A task reads the turn so a timeout
    never cancels the turn's own iterator."""
    queue: asyncio.Queue[ev.Event | None] = asyncio.Queue()

    async def pump() -> None:
        try:
            async for event in turn:
                await queue.put(event)
        finally:
            await queue.put(None)

    pumping = asyncio.create_task(pump())
    try:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT)
            except TimeoutError:
                yield None
                continue
            if item is None:
                return
            yield item
    finally:
        pumping.cancel()


def replay(result: TurnResult) -> Iterable[bytes]:
    """A stored turn's frames, for a retried request with the same Idempotency-Key."""
    for event in result.events:
        yield frame(event)
    yield done_frame(result)
