"""`neptune chat`: a terminal conversation with Neptune, in-process or against a service.

In-process (the default) it opens the database like `neptune serve` and chats as a workspace
member (the demo owner unless `--workspace`/`--user` say otherwise). With `--url` and
`--token` it talks to a running service over REST and Server-Sent Events instead. Either way it
prints the answer as it streams, a line per tool call, and asks y/n for approvals.

Commands: `/new` starts a conversation, `/history` shows this one, `/model [name]` shows or sets
its model, `/quit` (or Ctrl-D) leaves.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol, TextIO

from assistant import events as ev

HELP = "commands: /new  /history  /model [name]  /quit"


class Backend(Protocol):
    async def new(self) -> uuid.UUID: ...
    def send(self, conversation: uuid.UUID, text: str) -> AsyncIterator[ev.Event]: ...
    def decide(self, pending: uuid.UUID, approve: bool) -> AsyncIterator[ev.Event]: ...
    async def history(self, conversation: uuid.UUID) -> list[tuple[str, str]]: ...
    async def model(self, conversation: uuid.UUID, name: str | None) -> str: ...


class Console:
    """Renders events and reads answers; `ask` reads one line (None at end of input)."""

    def __init__(self, out: TextIO, ask: Callable[[str], str | None]) -> None:
        self.out, self.ask = out, ask
        self._streaming = False

    def show(self, event: ev.Event) -> None:
        match event:
            case ev.TextDelta():
                self._write(event.text)
                self._streaming = True
            case ev.ToolStarted():
                self._line(f"  → {event.tool} {_short(event.arguments)}")
            case ev.ToolFinished():
                self._line(f"  {'✓' if event.status == 'success' else '·'} {event.tool}: "
                           f"{event.status}")
            case ev.Error():
                self._line(f"  ! {event.message}")
            case ev.TurnRestarted():
                self._line("  (the answer restarted)")
            case ev.MessageCompleted() if self._streaming:
                self._write("\n")
                self._streaming = False

    def _line(self, text: str) -> None:
        if self._streaming:
            self._write("\n")
            self._streaming = False
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


async def converse(backend: Backend, console: Console) -> int:
    conversation = await backend.new()
    console.out.write(f"Neptune (conversation {conversation}); {HELP}\n")
    while (line := await asyncio.to_thread(console.ask, "you> ")) is not None:
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit"):
            break
        if text.startswith("/"):
            conversation = await _command(backend, console, conversation, text)
            continue
        await _turn(backend, console, backend.send(conversation, text))
    return 0


async def _command(backend: Backend, console: Console, conversation: uuid.UUID,
                   text: str) -> uuid.UUID:
    name, _, rest = text.partition(" ")
    if name == "/new":
        conversation = await backend.new()
        console.out.write(f"new conversation {conversation}\n")
    elif name == "/history":
        for role, content in await backend.history(conversation):
            console.out.write(f"{role}: {content}\n")
    elif name == "/model":
        console.out.write(f"model: {await backend.model(conversation, rest.strip() or None)}\n")
    else:
        console.out.write(f"unknown command {name}; {HELP}\n")
    return conversation


async def _turn(backend: Backend, console: Console, events: AsyncIterator[ev.Event]) -> None:
    pending: list[ev.ApprovalRequired] = []
    async for event in events:
        console.show(event)
        if isinstance(event, ev.ApprovalRequired):
            pending.append(event)
    for approval in pending:
        question = f"approve {approval.title} ({approval.risk} risk)? [y/n] "
        answer = await asyncio.to_thread(console.ask, question)
        approve = (answer or "").strip().lower() in ("y", "yes")
        await _turn(backend, console, backend.decide(approval.pending_action_id, approve))


def _short(arguments: Any) -> str:
    text = json.dumps(arguments, default=str, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def read_line(prompt: str) -> str | None:
    try:
        return input(prompt)
    except EOFError:
        return None


def console_for_terminal() -> Console:
    return Console(sys.stdout, read_line)


class InProcess:
    """Chat through this process's runtime, as one member."""

    def __init__(self, runtime: Any, caller: Any) -> None:
        from assistant.conversations import Conversations

        self.runtime, self.caller = runtime, caller
        self.conversations = Conversations(runtime.deps.database)

    async def new(self) -> uuid.UUID:
        row = await self.conversations.create(self.caller)
        conversation_id: uuid.UUID = row.id
        return conversation_id

    async def send(self, conversation: uuid.UUID, text: str) -> AsyncIterator[ev.Event]:
        async with await self.runtime.send(self.caller, conversation, text) as turn:
            async for event in turn:
                yield event

    async def decide(self, pending: uuid.UUID, approve: bool) -> AsyncIterator[ev.Event]:
        from assistant import decisions

        decision = await decisions.decide(self.runtime.deps, self.caller, pending,
                                          approve=approve)
        if decision.turn is None:
            return
        async with decision.turn as turn:
            async for event in turn:
                yield event

    async def history(self, conversation: uuid.UUID) -> list[tuple[str, str]]:
        detail = await self.conversations.get(self.caller, conversation)
        return [(str(m.role), m.content) for m in detail.messages
                if str(m.role) in ("user", "assistant") and m.content]

    async def model(self, conversation: uuid.UUID, name: str | None) -> str:
        from store.repositories.ai import ConversationRepository
        from store.tenancy import scoped_session

        scope = self.caller.scope
        async with scoped_session(self.runtime.deps.database.sessions, scope) as session:
            repo = ConversationRepository(session, scope)
            row = await repo.update(conversation, model=name) if name else \
                await repo.get(conversation)
        return str(row.model or self.runtime.deps.settings.model)


class Remote:
    """Chat with a running service over REST and Server-Sent Events."""

    def __init__(self, url: str, token: str) -> None:
        import httpx

        self.http = httpx.AsyncClient(base_url=url.rstrip("/"), timeout=120,
                                      headers={"Authorization": f"Bearer {token}"})

    async def new(self) -> uuid.UUID:
        response = await self.http.post("/v1/conversations", json={})
        return uuid.UUID(self._ok(response)["id"])

    def send(self, conversation: uuid.UUID, text: str) -> AsyncIterator[ev.Event]:
        return self._stream(f"/v1/conversations/{conversation}/messages", {"text": text})

    def decide(self, pending: uuid.UUID, approve: bool) -> AsyncIterator[ev.Event]:
        verb = "approve" if approve else "reject"
        return self._stream(f"/v1/approvals/{pending}/{verb}", {})

    async def history(self, conversation: uuid.UUID) -> list[tuple[str, str]]:
        detail = self._ok(await self.http.get(f"/v1/conversations/{conversation}"))
        return [(m["role"], m["content"]) for m in detail["messages"]
                if m["role"] in ("user", "assistant") and m["content"]]

    async def model(self, conversation: uuid.UUID, name: str | None) -> str:
        detail = self._ok(await self.http.get(f"/v1/conversations/{conversation}"))
        if name:
            return "the service decides the model; set it in the workspace settings"
        return str(detail.get("model") or "the workspace's default")

    async def _stream(self, path: str, body: dict[str, Any]) -> AsyncIterator[ev.Event]:
        headers = {"Accept": "text/event-stream"}
        async with self.http.stream("POST", path, json=body, headers=headers) as response:
            if response.status_code >= 400:
                await response.aread()
                self._ok(response)
            kind = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind != "done":
                    yield ev.EVENT_ADAPTER.validate_json(line[6:])

    @staticmethod
    def _ok(response: Any) -> Any:
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise RuntimeError(f"{response.status_code}: {detail}")
        return response.json()
