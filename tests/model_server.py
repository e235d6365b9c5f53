"""A scripted OpenAI-compatible model server on loopback, for tests and benchmarks.

Runtime code reaches models only through litellm over real HTTP, so tests script this server
instead of patching litellm: queue responses with `script()`, answer by request content with
`rule()`, read what the client sent from `requests`, and inject the faults a gateway must survive
(status errors, timeouts, streams cut mid-way, malformed chunks, slow chunks).

It is a small HTTP/1.1 server on `asyncio.start_server` rather than uvicorn/starlette for two
reasons: a cut stream must drop the TCP connection in the middle of a chunked body (no last
chunk, no `[DONE]`), which a framework hides from the application; and the turn-overhead
benchmark measures a bare litellm call against it, so the server must cost well under a
millisecond per request. The HTTP subset is what OpenAI clients use: Content-Length or chunked
request bodies, keep-alive, JSON responses and chunked Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Self

JsonObject = dict[str, Any]


# What a test scripts


@dataclass(frozen=True)
class Usage:
    """Token counts reported with a completion; `cached` is the prompt's cached part."""

    prompt: int = 10
    completion: int = 5
    cached: int = 0

    def as_json(self) -> JsonObject:
        return {
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "total_tokens": self.prompt + self.completion,
            "prompt_tokens_details": {"cached_tokens": self.cached, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        }


@dataclass(frozen=True)
class Text:
    """A text answer; streamed as `chunks` content deltas, `chunk_delay` seconds apart."""

    content: str
    chunks: int = 3
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"
    chunk_delay: float = 0.0


@dataclass(frozen=True)
class Call:
    """One tool call. A dict is sent as JSON; a string is sent as is (to script invalid JSON).

    Without an `id` the server assigns `call_1`, `call_2`, ... in serving order.
    """

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class ToolCalls:
    """An answer asking for tool calls (in this order), optionally after some text.

    Each call's arguments are streamed in `chunks` fragments.
    """

    calls: Sequence[Call]
    text: str | None = None
    usage: Usage = field(default_factory=Usage)
    chunks: int = 2
    chunk_delay: float = 0.0

    def __post_init__(self) -> None:
        if not self.calls:
            raise ValueError("ToolCalls needs at least one Call")
        object.__setattr__(self, "calls", tuple(self.calls))


@dataclass(frozen=True)
class Error:
    """An HTTP error with an OpenAI-shaped body; `retry_after` (seconds) sets `retry-after`."""

    status: int = 500
    message: str | None = None
    retry_after: float | None = None


@dataclass(frozen=True)
class Timeout:
    """Say nothing for `seconds` (or until the client hangs up), then serve `then` or hang up."""

    seconds: float
    then: Response | None = None


@dataclass(frozen=True)
class Cut:
    """Stream `answer` but drop the connection after `after_chunks` SSE events.

    The server goes quiet for `pause` seconds before dropping, so the client has read the
    events it was sent (clients discard buffered data once they see the broken connection).
    A non-streaming request gets half of its JSON body, then the drop.
    """

    answer: Answer
    after_chunks: int = 2
    pause: float = 0.05


@dataclass(frozen=True)
class Malformed:
    """Stream `answer`, but send `data: {not json` after `after_chunks` good events.

    A non-streaming request gets a 200 whose body is not JSON.
    """

    after_chunks: int = 1
    answer: Answer = field(default_factory=lambda: Text("this stream breaks", chunks=3))


Answer = Text | ToolCalls
Response = Text | ToolCalls | Error | Timeout | Cut | Malformed


# What a test reads back


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the server received it (header names lower-cased)."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: JsonObject

    @property
    def model(self) -> str | None:
        model = self.body.get("model")
        return model if isinstance(model, str) else None

    @property
    def messages(self) -> list[JsonObject]:
        return list(self.body.get("messages") or [])

    @property
    def tools(self) -> list[JsonObject]:
        return list(self.body.get("tools") or [])

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.tools]

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))


Predicate = Callable[[RecordedRequest], bool]


@dataclass
class Rule:
    """Answer `response` to requests matching `predicate`; a `once` rule retires after a hit."""

    predicate: Predicate
    response: Response
    once: bool = False
    hits: int = 0


# OpenAI wire format


@dataclass(frozen=True)
class _Completion:
    """An answer bound to one request: ids assigned, ready to encode either way."""

    id: str
    model: str
    created: int
    text: str | None
    calls: tuple[tuple[str, Call], ...]
    usage: Usage
    finish_reason: str
    chunks: int


def _split(text: str, parts: int) -> list[str]:
    """`text` in about `parts` pieces joining back to it, cut between words when it has enough."""
    units = re.findall(r"\s*\S+\s*", text) if len(text.split()) >= parts else list(text)
    parts = max(1, min(parts, len(units)))
    bounds = [len(units) * i // parts for i in range(parts + 1)]
    return ["".join(units[start:end]) for start, end in itertools.pairwise(bounds)]


def _tool_call_json(call_id: str, call: Call) -> JsonObject:
    function = {"name": call.name, "arguments": call.arguments_json}
    return {"id": call_id, "type": "function", "function": function}


def _completion_json(completion: _Completion) -> JsonObject:
    message: JsonObject = {"role": "assistant", "content": completion.text, "refusal": None}
    if completion.calls:
        message["tool_calls"] = [_tool_call_json(i, c) for i, c in completion.calls]
    reason = completion.finish_reason
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reason}
    return {
        "id": completion.id,
        "object": "chat.completion",
        "created": completion.created,
        "model": completion.model,
        "choices": [choice],
        "usage": completion.usage.as_json(),
        "system_fingerprint": "fp_neptune_test",
    }


def _text_deltas(completion: _Completion) -> list[JsonObject]:
    if completion.text is None:
        return []
    first: JsonObject = {"role": "assistant", "content": "", "refusal": None}
    pieces = _split(completion.text, completion.chunks) if completion.text else []
    return [first, *({"content": piece} for piece in pieces)]


def _call_deltas(index: int, call_id: str, call: Call, fragments: int) -> list[JsonObject]:
    """OpenAI's shape: a header with id, name and empty arguments, then argument fragments."""
    function = {"name": call.name, "arguments": ""}
    header = {"index": index, "id": call_id, "type": "function", "function": function}
    deltas: list[JsonObject] = [{"tool_calls": [header]}]
    for fragment in _split(call.arguments_json, fragments) if call.arguments_json else []:
        deltas.append({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]})
    return deltas


def _deltas(completion: _Completion) -> list[JsonObject]:
    deltas = _text_deltas(completion)
    for index, (call_id, call) in enumerate(completion.calls):
        deltas += _call_deltas(index, call_id, call, completion.chunks)
    if completion.text is None and deltas:
        deltas[0] = {"role": "assistant", "content": None, **deltas[0]}
    return deltas


def _stream_chunks(completion: _Completion, include_usage: bool) -> list[JsonObject]:
    """Every `chat.completion.chunk` of the answer, the usage-only chunk last when asked for."""
    envelope: JsonObject = {
        "id": completion.id,
        "object": "chat.completion.chunk",
        "created": completion.created,
        "model": completion.model,
        "system_fingerprint": "fp_neptune_test",
    }
    if include_usage:
        envelope["usage"] = None
    final: tuple[JsonObject, str | None] = ({}, completion.finish_reason)
    steps = [*((delta, None) for delta in _deltas(completion)), final]
    chunks = [{**envelope, "choices": [_chunk_choice(d, reason)]} for d, reason in steps]
    if include_usage:
        chunks.append({**envelope, "choices": [], "usage": completion.usage.as_json()})
    return chunks


def _chunk_choice(delta: JsonObject, finish_reason: str | None) -> JsonObject:
    return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}


def _error_json(message: str, kind: str, code: str | None) -> JsonObject:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def _scripted_error_json(error: Error) -> JsonObject:
    message = error.message or f"scripted {error.status} {HTTPStatus(error.status).phrase}"
    if error.status == 429:
        return _error_json(message, "requests", "rate_limit_exceeded")
    if error.status < 500:
        return _error_json(message, "invalid_request_error", None)
    return _error_json(message, "server_error", None)


def _sse(payload: JsonObject | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n".encode()


_DONE = _sse("[DONE]")
_MALFORMED = b"data: {not json\n\n"


# HTTP/1.1


@dataclass(frozen=True)
class _HttpRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


async def _read_request(reader: asyncio.StreamReader) -> _HttpRequest | None:
    """The next request on a connection, or None when the client closed it between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    request_line, *header_lines = head.decode("latin-1").split("\r\n")[:-2]
    method, target, _version = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await _read_body(reader, headers)
    return _HttpRequest(method, target.partition("?")[0], headers, body)


async def _read_body(reader: asyncio.StreamReader, headers: Mapping[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        parts = []
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        await reader.readuntil(b"\r\n")
        return b"".join(parts)
    return await reader.readexactly(int(headers.get("content-length", "0")))


def _head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_response(
    status: int, body: JsonObject | bytes, headers: Mapping[str, str] | None = None
) -> bytes:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    fields = {"content-type": "application/json", "content-length": str(len(data))}
    return _head(status, {**fields, **(headers or {})}) + data


_SSE_HEADERS = {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"}
_STREAM_HEAD = _head(200, {**_SSE_HEADERS, "transfer-encoding": "chunked"})
_LAST_CHUNK = b"0\r\n\r\n"


def _http_chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


async def _wait_unless_hung_up(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Stay silent for `seconds`; False if the client hung up (or sent more) meanwhile."""
    try:
        async with asyncio.timeout(seconds):
            await reader.read(1)
    except TimeoutError:
        return True
    except ConnectionError:
        return False
    return False


# The server


class ModelServer:
    """An OpenAI-compatible chat completions endpoint on 127.0.0.1, answering from a script.

        async with ModelServer() as server:
            server.script(Text("hello world"), ToolCalls([Call("search_deals", {"q": "acme"})]))
            ...  # litellm.acompletion(model="openai/test-model", api_base=server.base_url, ...)
            assert server.requests[0].messages[-1]["content"] == "hi"

    Rules are checked before the queue, in the order they were added. A request that nothing
    answers gets HTTP 500 "unscripted request" and is also listed in `unscripted`.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()
        self._queue: deque[Response] = deque()
        self._rules: list[Rule] = []
        self.requests: list[RecordedRequest] = []
        self.unscripted: list[RecordedRequest] = []
        self._call_ids = itertools.count(1)
        self._completion_ids = itertools.count(1)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def start(self) -> Self:
        self._server = await asyncio.start_server(self._serve_connection, self._host, self._port)
        self._port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening and drop every open connection, including ones held in a Timeout."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}/v1"

    @property
    def pending(self) -> tuple[Response, ...]:
        """Scripted responses not served yet (a test can assert it used its whole script)."""
        return tuple(self._queue)

    def script(self, *responses: Response) -> None:
        """Queue responses, served first in, first out to requests no rule answers."""
        self._queue.extend(responses)

    def rule(self, predicate: Predicate, response: Response, *, once: bool = False) -> Rule:
        """Answer `response` whenever `predicate(request)` holds (only the first time if once)."""
        rule = Rule(predicate, response, once)
        self._rules.append(rule)
        return rule

    def reset(self) -> None:
        """Forget the script, the rules and the recorded requests; ids restart at 1."""
        self._queue.clear()
        self._rules.clear()
        self.requests.clear()
        self.unscripted.clear()
        self._call_ids = itertools.count(1)
        self._completion_ids = itertools.count(1)

    def _next_response(self, request: RecordedRequest) -> Response | None:
        for rule in self._rules:
            if rule.predicate(request):
                rule.hits += 1
                if rule.once:
                    self._rules.remove(rule)
                return rule.response
        return self._queue.popleft() if self._queue else None

    def _bind(self, answer: Answer, request: RecordedRequest) -> _Completion:
        """Give an answer its completion id and call ids, in the order it is served."""
        text: str | None = answer.content if isinstance(answer, Text) else answer.text
        calls: Sequence[Call] = () if isinstance(answer, Text) else answer.calls
        finish_reason = answer.finish_reason if isinstance(answer, Text) else "tool_calls"
        return _Completion(
            id=f"chatcmpl-{next(self._completion_ids)}",
            model=request.model or "unknown",
            created=int(time.time()),
            text=text,
            calls=tuple((call.id or f"call_{next(self._call_ids)}", call) for call in calls),
            usage=answer.usage,
            finish_reason=finish_reason,
            chunks=answer.chunks,
        )

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while (request := await _read_request(reader)) is not None:
                if not await self._respond(request, reader, writer) or not request.keep_alive:
                    break
        except (ConnectionError, asyncio.CancelledError):
            # A client hung up, or close() cancelled us: Python 3.11's start_server logs a
            # handler task that ends cancelled as an unhandled error, so end normally instead.
            pass
        finally:
            self._connections.discard(task)
            writer.close()

    async def _respond(
        self, http: _HttpRequest, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one request; False when the connection must be closed afterwards."""
        try:
            body = json.loads(http.body or b"{}")
        except ValueError:
            body = {}
        request = RecordedRequest(http.method, http.path, http.headers, body)
        self.requests.append(request)
        if http.method != "POST" or not http.path.endswith("/chat/completions"):
            message = f"no route for {http.method} {http.path}"
            writer.write(_json_response(404, _error_json(message, "not_found", None)))
            return True
        response = self._next_response(request)
        if response is None:
            self.unscripted.append(request)
            writer.write(_json_response(500, _unscripted_json(request)))
            return True
        return await self._serve(response, request, reader, writer)

    async def _serve(
        self,
        response: Response,
        request: RecordedRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> bool:
        match response:
            case Text() | ToolCalls():
                await self._send_answer(response, request, writer)
                return True
            case Error():
                writer.write(_error_response(response))
                return True
            case Timeout():
                still_there = await _wait_unless_hung_up(reader, response.seconds)
                if not still_there or response.then is None:
                    return False
                return await self._serve(response.then, request, reader, writer)
            case Cut():
                await self._send_cut(response, request, writer)
                return False
            case Malformed():
                await self._send_malformed(response, request, writer)
                return True

    async def _send_answer(
        self, answer: Answer, request: RecordedRequest, writer: asyncio.StreamWriter
    ) -> None:
        completion = self._bind(answer, request)
        if not request.stream:
            writer.write(_json_response(200, _completion_json(completion)))
            return
        events = [_sse(c) for c in _stream_chunks(completion, request.include_usage)]
        await _stream(writer, [*events, _DONE], answer.chunk_delay, finish=True)

    async def _send_cut(
        self, cut: Cut, request: RecordedRequest, writer: asyncio.StreamWriter
    ) -> None:
        completion = self._bind(cut.answer, request)
        if request.stream:
            chunks = _stream_chunks(completion, request.include_usage)
            events = [_sse(c) for c in chunks[: cut.after_chunks]]
            await _stream(writer, events, cut.answer.chunk_delay, finish=False)
        else:
            body = json.dumps(_completion_json(completion)).encode()
            whole = _json_response(200, body)
            writer.write(whole[: len(whole) - len(body) // 2])
            await writer.drain()
        await asyncio.sleep(cut.pause)

    async def _send_malformed(
        self, malformed: Malformed, request: RecordedRequest, writer: asyncio.StreamWriter
    ) -> None:
        if not request.stream:
            writer.write(_json_response(200, b"{not json"))
            return
        completion = self._bind(malformed.answer, request)
        events = [_sse(c) for c in _stream_chunks(completion, request.include_usage)]
        events.insert(malformed.after_chunks, _MALFORMED)
        await _stream(writer, [*events, _DONE], malformed.answer.chunk_delay, finish=True)


async def _stream(
    writer: asyncio.StreamWriter, events: Sequence[bytes], delay: float, *, finish: bool
) -> None:
    """Send SSE events as HTTP chunks; without `finish` the body stays open (no last chunk)."""
    writer.write(_STREAM_HEAD)
    for event in events:
        writer.write(_http_chunk(event))
        if delay:
            await writer.drain()
            await asyncio.sleep(delay)
    if finish:
        writer.write(_LAST_CHUNK)
    await writer.drain()


def _error_response(error: Error) -> bytes:
    headers = {} if error.retry_after is None else {"retry-after": f"{error.retry_after:g}"}
    return _json_response(error.status, _scripted_error_json(error), headers)


def _unscripted_json(request: RecordedRequest) -> JsonObject:
    last = request.messages[-1] if request.messages else {}
    message = (
        "unscripted request: no rule matched and the script queue is empty "
        f"(model={request.model!r}, last message={str(last.get('content'))[:80]!r})"
    )
    return _error_json(message, "unscripted_request", "unscripted_request")

