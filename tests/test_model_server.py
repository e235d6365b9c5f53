"""The scripted model server, driven the way the gateway drives models: litellm over real HTTP.

The fault tests pin which litellm exception each fault produces, since the gateway's error
handling relies on those classes.
"""

from __future__ import annotations

import os

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import litellm
import pytest
from litellm.exceptions import (
    APIConnectionError,
    InternalServerError,
    MidStreamFallbackError,
    RateLimitError,
    ServiceUnavailableError,
)
from litellm.exceptions import Timeout as LitellmTimeout

from tests.model_guard import NetworkBlockedError, NetworkGuard, NetworkViolationError
from tests.model_server import (
    Call,
    Cut,
    Error,
    Malformed,
    ModelServer,
    RecordedRequest,
    Text,
    Timeout,
    ToolCalls,
    Usage,
)

litellm.suppress_debug_info = True

TEST_NET = "203.0.113.1"  # TEST-NET-3: never routed, and the guard refuses it before connecting
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "find acme"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": name,
            "description": f"{name} for tests",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}},
        },
    }
    for name in ("search_deals", "get_deal")
]


@pytest.fixture(autouse=True)
def network_guard() -> Iterator[NetworkGuard]:
    with NetworkGuard() as guard:
        yield guard


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as model_server:
        yield model_server


async def complete(server: ModelServer, *, stream: bool = True, **kwargs: Any) -> Any:
    """One litellm call as the gateway makes it; litellm must not retry on its own here.

    `_skip_mcp_handler`: litellm 1.106 imports the optional `mcp` package whenever `tools` are
    passed, and it is not installed.
    """
    kwargs.setdefault("messages", MESSAGES)
    return await litellm.acompletion(
        model="openai/test-model",
        api_base=server.base_url,
        api_key="sk-test",
        tools=TOOLS,
        stream=stream,
        stream_options={"include_usage": True} if stream else None,
        num_retries=0,
        max_retries=0,
        _skip_mcp_handler=True,
        **kwargs,
    )


async def collect(stream: Any, into: list[Any] | None = None) -> list[Any]:
    chunks = [] if into is None else into
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


def assembled(chunks: list[Any]) -> Any:
    """The whole response litellm rebuilds from streamed chunks (as the gateway will)."""
    return litellm.stream_chunk_builder(chunks)


def streamed_text(chunks: list[Any]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


async def test_streamed_text_reassembles_with_usage(server: ModelServer) -> None:
    server.script(Text("one two three four", chunks=4, usage=Usage(12, 4, cached=8)))

    chunks = await collect(await complete(server))

    pieces = [c.choices[0].delta.content for c in chunks if c.choices]
    assert [piece for piece in pieces if piece] == ["one ", "two ", "three ", "four"]
    message = assembled(chunks)
    assert message.choices[0].message.content == "one two three four"
    assert message.choices[0].finish_reason == "stop"
    usage = message.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 4, 16)
    assert usage.prompt_tokens_details.cached_tokens == 8


async def test_parallel_tool_calls_reassemble_in_emission_order(server: ModelServer) -> None:
    server.script(
        ToolCalls(
            [Call("search_deals", {"query": "acme"}), Call("get_deal", {"id": "d-7"}, id="call_x")],
            text="Let me look.",
        )
    )

    message = assembled(await collect(await complete(server)))

    choice = message.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me look."
    calls = [
        (call.id, call.function.name, json.loads(call.function.arguments))
        for call in choice.message.tool_calls
    ]
    assert calls == [
        ("call_1", "search_deals", {"query": "acme"}),
        ("call_x", "get_deal", {"id": "d-7"}),
    ]
    assert message.usage.total_tokens == 15


async def test_tool_call_chunks_on_the_wire_are_shaped_like_openai(server: ModelServer) -> None:
    server.script(ToolCalls([Call("search_deals", {"query": "acme"}), Call("get_deal", "{bad")]))
    body = {"model": "m", "messages": MESSAGES, "stream": True,
            "stream_options": {"include_usage": True}}

    async with httpx.AsyncClient() as client:
        response = await client.post(f"{server.base_url}/chat/completions", json=body)
    events = [line.removeprefix("data: ") for line in response.text.split("\n\n") if line]

    assert response.headers["content-type"].startswith("text/event-stream")
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks[:-1] if chunk["choices"]]
    calls = [call for delta in deltas for call in delta.get("tool_calls", [])]
    assert calls == [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "search_deals", "arguments": ""}},
        {"index": 0, "function": {"arguments": '{"query": '}},
        {"index": 0, "function": {"arguments": '"acme"}'}},
        {"index": 1, "id": "call_2", "type": "function",
         "function": {"name": "get_deal", "arguments": ""}},
        {"index": 1, "function": {"arguments": "{b"}},
        {"index": 1, "function": {"arguments": "ad"}},
    ]
    assert deltas[0]["role"] == "assistant"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}


async def test_non_streaming_answers(server: ModelServer) -> None:
    server.script(Text("plain answer"), ToolCalls([Call("search_deals", '{"query": "acme"}')]))

    text = await complete(server, stream=False)
    tools = await complete(server, stream=False)

    assert text.choices[0].message.content == "plain answer"
    assert text.usage.prompt_tokens == 10
    call = tools.choices[0].message.tool_calls[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "call_1", "search_deals", '{"query": "acme"}',
    )
    assert tools.choices[0].finish_reason == "tool_calls"


async def test_requests_are_recorded(server: ModelServer) -> None:
    server.script(Text("ok"))

    await collect(await complete(server, temperature=0.5))

    [request] = server.requests
    assert (request.path, request.model, request.stream, request.include_usage) == (
        "/v1/chat/completions", "test-model", True, True,
    )
    assert request.messages == MESSAGES
    assert request.tool_names == ["search_deals", "get_deal"]
    assert request.tools == TOOLS
    assert request.body["temperature"] == 0.5
    assert request.headers["authorization"] == "Bearer sk-test"


async def test_rules_come_before_the_queue_and_once_rules_retire(server: ModelServer) -> None:
    server.script(Text("from the queue"))
    asks_for_tools = server.rule(
        lambda request: request.messages[-1]["content"] == "tools?", Text("persistent")
    )
    server.rule(lambda r: True, Text("first only"), once=True)

    first = await complete(server, stream=False)
    second = await complete(server, stream=False)
    third = await complete(server, stream=False, messages=[{"role": "user", "content": "tools?"}])

    answers = [r.choices[0].message.content for r in (first, second, third)]
    assert answers == ["first only", "from the queue", "persistent"]
    assert asks_for_tools.hits == 1
    assert server.pending == ()


async def test_unscripted_request_fails_loudly(server: ModelServer) -> None:
    with pytest.raises(InternalServerError, match="unscripted request"):
        await complete(server)

    assert [r.messages[-1]["content"] for r in server.unscripted] == ["find acme"]
    assert len(server.requests) == 1


async def test_call_ids_count_across_answers_and_restart_on_reset(server: ModelServer) -> None:
    server.script(ToolCalls([Call("get_deal")]), ToolCalls([Call("get_deal")]))
    ids = [(await complete(server, stream=False)).choices[0].message.tool_calls[0].id
           for _ in range(2)]
    server.reset()
    server.script(ToolCalls([Call("get_deal")]))

    again = await complete(server, stream=False)

    assert ids == ["call_1", "call_2"]
    assert again.choices[0].message.tool_calls[0].id == "call_1"
    assert len(server.requests) == 1


async def test_rate_limit_surfaces_as_rate_limit_error(server: ModelServer) -> None:
    server.script(Error(429, "slow down", retry_after=7))

    with pytest.raises(RateLimitError, match="slow down") as caught:
        await complete(server)

    assert caught.value.status_code == 429
    error: Any = caught.value
    assert error.litellm_response_headers["retry-after"] == "7"


@pytest.mark.parametrize(
    ("status", "expected"),
    [(500, InternalServerError), (503, ServiceUnavailableError)],
)
async def test_server_errors_surface_as_litellm_errors(
    server: ModelServer, status: int, expected: type[Exception]
) -> None:
    server.script(Error(status))

    with pytest.raises(expected) as caught:
        await complete(server)

    assert type(caught.value) is expected
    assert caught.value.status_code == status  # type: ignore[attr-defined]


async def test_timeout_surfaces_as_litellm_timeout(server: ModelServer) -> None:
    server.script(Timeout(5))
    started = time.perf_counter()

    with pytest.raises(LitellmTimeout):
        await complete(server, timeout=0.2)

    assert time.perf_counter() - started < 2


async def test_timeout_then_answers_late(server: ModelServer) -> None:
    server.script(Timeout(0.05, then=Text("late")))

    response = await complete(server, stream=False, timeout=5)

    assert response.choices[0].message.content == "late"


async def test_cut_stream_raises_after_tokens_arrived(server: ModelServer) -> None:
    server.script(Cut(Text("one two three four", chunks=4), after_chunks=3))
    received: list[Any] = []

    with pytest.raises(MidStreamFallbackError) as caught:
        await collect(await complete(server), into=received)

    assert streamed_text(received) == "one two "
    assert caught.value.generated_content == "one two "
    assert isinstance(caught.value.original_exception, APIConnectionError)
    assert "payload is not completed" in str(caught.value)


async def test_malformed_chunk_raises_after_good_chunks(server: ModelServer) -> None:
    server.script(Malformed(after_chunks=2, answer=Text("good start, then junk", chunks=3)))
    received: list[Any] = []

    with pytest.raises(MidStreamFallbackError) as caught:
        await collect(await complete(server), into=received)

    assert streamed_text(received) == "good "
    assert isinstance(caught.value.original_exception, APIConnectionError)


@pytest.mark.parametrize(
    ("fault", "message"),
    [(Cut(Text("whole answer")), "Connection error"), (Malformed(), "Expecting property name")],
)
async def test_broken_non_streaming_bodies_surface_as_internal_server_error(
    server: ModelServer, fault: Cut | Malformed, message: str
) -> None:
    server.script(fault)

    with pytest.raises(InternalServerError, match=message):
        await complete(server, stream=False)


async def test_chunk_delay_spaces_out_chunks(server: ModelServer) -> None:
    server.script(Text("a b c", chunks=3, chunk_delay=0.05))
    stamps = []

    async for chunk in await complete(server):
        if chunk.choices and chunk.choices[0].delta.content:
            stamps.append(time.perf_counter())

    assert len(stamps) == 3
    assert stamps[-1] - stamps[0] >= 0.09


async def test_close_drops_a_connection_held_by_a_timeout() -> None:
    async with ModelServer() as held:
        arrived = asyncio.Event()

        def note_arrival(_request: RecordedRequest) -> bool:
            arrived.set()
            return True

        held.rule(note_arrival, Timeout(30))
        body = {"model": "m", "messages": MESSAGES}
        async with httpx.AsyncClient() as client:
            url = f"{held.base_url}/chat/completions"
            request = asyncio.create_task(client.post(url, json=body))
            await arrived.wait()
            started = time.perf_counter()
            await held.close()
            with pytest.raises(httpx.RemoteProtocolError):
                await request

    assert time.perf_counter() - started < 1


def test_guard_refuses_and_records_non_loopback_connections(network_guard: NetworkGuard) -> None:
    with pytest.raises(NetworkBlockedError):
        socket.create_connection((TEST_NET, 443), timeout=0.1)
    with socket.socket() as sock, pytest.raises(NetworkBlockedError):
        sock.connect((TEST_NET, 443))
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo("api.openai.com", 443)

    assert [str(v) for v in network_guard.take_violations()] == [
        f"socket.create_connection to {TEST_NET}:443",
        f"socket.connect to {TEST_NET}:443",
        "socket.getaddrinfo to api.openai.com:443",
    ]


async def test_guard_records_refusals_the_caller_swallowed(network_guard: NetworkGuard) -> None:
    with contextlib.suppress(OSError):  # what a retry loop would do
        await asyncio.open_connection(TEST_NET, 443)

    with pytest.raises(NetworkViolationError, match=TEST_NET):
        network_guard.raise_if_violated()
    assert network_guard.violations == []


async def test_guard_blocks_a_litellm_call_to_a_remote_api_base(
    network_guard: NetworkGuard,
) -> None:
    remote = ModelServer(host=TEST_NET, port=443)  # never started: only its base_url is used

    with pytest.raises(InternalServerError, match="Connection error"):
        await complete(remote, timeout=2)

    violations = network_guard.take_violations()
    assert violations
    assert {(v.host, v.port) for v in violations} == {(TEST_NET, 443)}


def test_guard_allows_loopback_and_unix_sockets(tmp_path: Path) -> None:
    assert socket.getaddrinfo("localhost", 80)
    with socket.socket(socket.AF_UNIX) as sock, pytest.raises(FileNotFoundError):
        sock.connect(str(tmp_path / "missing.sock"))
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError) as refused:
        sock.connect(("127.0.0.1", 1))
    assert not isinstance(refused.value, NetworkBlockedError)


def test_nested_guard_answers_for_refusals_and_unwinds(network_guard: NetworkGuard) -> None:
    wrapped = socket.getaddrinfo

    with pytest.raises(NetworkViolationError), NetworkGuard() as inner:
        with pytest.raises(NetworkBlockedError):
            socket.getaddrinfo(TEST_NET, 80)
        assert [v.host for v in inner.violations] == [TEST_NET]

    assert socket.getaddrinfo is wrapped
    assert network_guard.violations == []
    with pytest.raises(NetworkBlockedError):
        socket.getaddrinfo(TEST_NET, 80)
    assert [v.host for v in network_guard.take_violations()] == [TEST_NET]
