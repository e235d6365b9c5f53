"""The runtime's front door: start a turn, stop it, decide approvals, replay events.

`send()` takes the conversation's turn lock (waiting for a running turn, or refusing at once,
per `NEPTUNE_BUSY_POLICY`), stores the user's message, and returns a `Turn` whose events can be
iterated while the model works in a task of its own. Leaving `async with turn:` before the turn
is over is a disconnect: the turn stops and keeps its partial text. `decide()` is the same for
an approval: record it, run or cancel the stored call, and let the model continue.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

from assistant import events as ev
from assistant.approvals import Resolution, load_pending, resolve
from assistant.context import PageContext
from assistant.conversations import Conversations
from assistant.deps import RuntimeDeps
from assistant.eventlog import Subscription
from assistant.locks import ConversationBusy, conversation_lock
from assistant.settings import BusyPolicy
from assistant.turn import TurnError, TurnOutcome, TurnRunner
from store.errors import InvalidArgument
from store.models.ai import MessageRole
from store.tenancy import scoped_session
from tools.context import Caller

log = logging.getLogger(__name__)
MAX_MESSAGE_CHARS = 32_000

__all__ = ["ConversationBusy", "Runtime", "Turn"]


class Turn:
    """A running turn: iterate its events, stop it, or wait for its outcome."""

    def __init__(self, turn_id: uuid.UUID, conversation_id: uuid.UUID,
                 subscription: Subscription, unsubscribe: Callable[[Subscription], None]) -> None:
        self.id, self.conversation_id = turn_id, conversation_id
        self._subscription, self._unsubscribe = subscription, unsubscribe
        self._task: asyncio.Task[TurnOutcome] | None = None
        self.resolution: Resolution | None = None

    def _start(self, work: Coroutine[Any, Any, TurnOutcome]) -> None:
        self._task = asyncio.create_task(work, name=f"turn-{self.id}")

    def __aiter__(self) -> AsyncIterator[ev.Event]:
        return self._subscription.__aiter__()

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    async def wait(self) -> TurnOutcome:
        assert self._task is not None
        return await asyncio.shield(self._task)

    async def stop(self) -> TurnOutcome:
        """End the turn now; the partial answer is kept and marked stopped."""
        assert self._task is not None
        self._task.cancel()
        return await self.wait()

    async def collect(self) -> list[ev.Event]:
        """Every event of this turn, once it is over (convenient for callers without a stream)."""
        return [event async for event in self]

    async def __aenter__(self) -> Turn:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._subscription.finished:
                await self.wait()  # the stream ended; the task is only tidying up
            elif not self.done:
                await self.stop()  # the reader left early: a disconnect
        finally:
            self._unsubscribe(self._subscription)


class Runtime:
    def __init__(self, deps: RuntimeDeps) -> None:
        self.deps = deps

    async def send(self, caller: Caller, conversation_id: uuid.UUID, text: str, *,
                   page: PageContext | None = None) -> Turn:
        """Start a turn for the caller's message; returns once the message is stored."""
        text = text.strip()
        if not text:
            raise InvalidArgument("a message needs some text")
        if len(text) > MAX_MESSAGE_CHARS:
            raise InvalidArgument(f"a message is at most {MAX_MESSAGE_CHARS:,} characters")

        async def prepare(runner: TurnRunner) -> None:
            await runner.prepare(text, page)

        return await self._turn(caller, conversation_id, prepare,
                                wait=self.deps.settings.busy_policy == BusyPolicy.QUEUE)

    async def decide(self, caller: Caller, pending_id: uuid.UUID, *, approve: bool,
                     notes: str | None = None) -> Turn:
        """Approve or reject a pending action and let the conversation continue with it."""
        pending = await load_pending(self.deps, caller, pending_id)
        if pending.conversation_id is None:
            raise InvalidArgument("this action does not belong to a conversation")
        holder: dict[str, Resolution] = {}

        async def prepare(runner: TurnRunner) -> None:
            resolution = await resolve(self.deps, caller, pending_id, approve=approve, notes=notes)
            holder["resolution"] = resolution
            await runner.prepare(None, None, extra=_replay_rows(resolution),
                                 announce=_announce(runner, resolution), any_owner=True)

        turn = await self._turn(caller, pending.conversation_id, prepare, wait=True)
        turn.resolution = holder.get("resolution")
        return turn

    async def stop(self, caller: Caller, conversation_id: uuid.UUID) -> bool:
        """Stop the conversation's running turn in this process (from any channel or tab);
        False when none is running here. The caller must own the conversation."""
        await Conversations(self.deps.database).owned(caller, conversation_id)
        turn = self.deps.hub.running.get(conversation_id)
        if turn is None:
            return False
        await turn.stop()
        return True

    async def events_after(self, caller: Caller, conversation_id: uuid.UUID,
                           seq: int, *, limit: int = 500) -> list[ev.Event]:
        """The events a client missed: stored ones, then the running turn's unsaved tail."""
        async with scoped_session(self.deps.database.sessions, caller.scope) as session:
            return await self.deps.hub.after(session, caller.scope, conversation_id, seq,
                                             limit=limit)

    async def _turn(self, caller: Caller, conversation_id: uuid.UUID,
                    prepare: Callable[[TurnRunner], Awaitable[None]], *, wait: bool) -> Turn:
        hub = self.deps.hub
        subscription = hub.subscribe(conversation_id)
        stack = AsyncExitStack()
        turn = Turn(uuid.uuid4(), conversation_id, subscription, hub.unsubscribe)
        event_log = hub.open_log(caller.scope, conversation_id, 0)
        try:
            if self.deps.turn_slots is not None:
                await stack.enter_async_context(self.deps.turn_slots)
            await stack.enter_async_context(conversation_lock(
                self.deps.lock_engine or self.deps.database.engine, caller.workspace_id,
                conversation_id, wait=wait))
            runner = TurnRunner(self.deps, caller, conversation_id, turn.id, event_log)
            await prepare(runner)
        except BaseException:
            hub.close_log(event_log)
            hub.unsubscribe(subscription)
            await stack.aclose()
            raise
        turn._start(self._drive(runner, stack, subscription))
        hub.running[conversation_id] = turn
        return turn

    async def _drive(self, runner: TurnRunner, stack: AsyncExitStack,
                     subscription: Subscription) -> TurnOutcome:
        outcome: TurnOutcome | None = None
        try:
            outcome = await self._run(runner)
            return outcome
        finally:
            await asyncio.shield(self._completed(runner, outcome))
            self.deps.hub.close_log(runner.log)
            self.deps.hub.running.pop(runner.conversation_id, None)
            subscription.close()  # before the lock goes: the next turn's events are not ours
            await asyncio.shield(stack.aclose())

    async def _completed(self, runner: TurnRunner, outcome: TurnOutcome | None) -> None:
        """Tell every client the turn is over, as the turn's last stored event."""
        runner.log.make(ev.TurnCompleted, turn_id=runner.turn_id,
                        status=outcome.status if outcome else "error",
                        message_id=outcome.message_id if outcome else None)
        try:
            async with scoped_session(self.deps.database.sessions, runner.caller.scope) as s:
                await runner.log.flush(s)
        except Exception:
            log.exception("could not store the end of turn %s", runner.turn_id)

    async def _run(self, runner: TurnRunner) -> TurnOutcome:
        try:
            return await runner.run()
        except asyncio.CancelledError:
            text = runner.open.text if runner.open else ""
            message_id = await runner.close_open(None, "stopped")
            return TurnOutcome(runner.turn_id, runner.conversation_id, "stopped", message_id,
                               text)
        except TurnError as error:
            return await self._fail(runner, error.code, error.message, error.retryable)
        except Exception:
            log.exception("turn %s failed", runner.turn_id)
            message = f"Something went wrong on our side (reference {runner.turn_id})."
            return await self._fail(runner, "internal_error", message, False)

    async def _fail(self, runner: TurnRunner, code: str, message: str,
                    retryable: bool) -> TurnOutcome:
        runner.log.make(ev.Error, turn_id=runner.turn_id, code=code, message=message,
                        retryable=retryable)
        text = runner.open.text if runner.open else ""
        message_id = await runner.close_open(None, "error")
        return TurnOutcome(runner.turn_id, runner.conversation_id, "error", message_id, text,
                           message)


def _replay_rows(resolution: Resolution) -> list[dict[str, object]]:
    """The decided call as the model will read it next: its own call and the real result."""
    outcome = resolution.outcome
    return [
        {"role": MessageRole.ASSISTANT, "content": "",
         "tool_calls": [resolution.call.as_message()],
         "meta": {"pending_action_id": str(resolution.pending.id), "replayed": True}},
        {"role": MessageRole.TOOL, "content": outcome.content, "tool_call_id": outcome.call.id,
         "meta": {"tool": outcome.call.name, "status": outcome.status}},
    ]


def _announce(runner: TurnRunner, resolution: Resolution) -> list[ev.Event]:
    base = {"conversation_id": runner.conversation_id, "turn_id": runner.turn_id}
    outcome, pending = resolution.outcome, resolution.pending
    return [
        ev.ApprovalResolved(**base, pending_action_id=pending.id,
                            decision="approved" if resolution.approved else "rejected",
                            decided_by=runner.caller.user_id,
                            call_id=(pending.details or {}).get("call_id")),
        ev.ToolStarted(**base, call_id=outcome.call.id, tool=pending.tool_name,
                       arguments=pending.tool_arguments),
        ev.ToolFinished(**base, call_id=outcome.call.id, tool=pending.tool_name,
                        status=outcome.status, result=outcome.result, error=outcome.error,
                        duration_ms=outcome.duration_ms),
    ]
