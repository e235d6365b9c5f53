"""The response cache: the same trial index replays its own sample; another index asks again."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from assistant.gateway import GatewayError, ModelRequest, ModelTarget
from evals.cache import TRIAL, CachingGateway, ResponseCache, request_key
from tests.model_server import Call, Error, ModelServer, Text, ToolCalls


def _target(server: ModelServer, model: str = "openai/sampled") -> ModelTarget:
    return ModelTarget("sampled", model, server.base_url, "sk-test-key")


def _request(text: str, **params: object) -> ModelRequest:
    return ModelRequest([{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": text}], params=params, timeout=5)


async def _ask(gateway: CachingGateway, target: ModelTarget, request: ModelRequest,
               trial: int) -> str:
    token = TRIAL.set(trial)
    try:
        return (await gateway.complete([target], request)).text
    finally:
        TRIAL.reset(token)


async def test_same_trial_replays_and_another_trial_samples_again(
        model_server: ModelServer, tmp_path: Path) -> None:
    model_server.script(Text("first sample"), Text("second sample"))
    cache = ResponseCache(tmp_path)
    gateway = CachingGateway(cache, retries=0)
    target, request = _target(model_server), _request("hello")
    assert await _ask(gateway, target, request, 0) == "first sample"
    assert await _ask(gateway, target, request, 1) == "second sample"
    # a re-run (a new gateway on the same directory) asks the model nothing
    again = CachingGateway(ResponseCache(tmp_path), retries=0)
    assert await _ask(again, target, request, 0) == "first sample"
    assert await _ask(again, target, request, 1) == "second sample"
    assert len(model_server.requests) == 2
    assert (again.cache.hits, again.cache.misses) == (2, 0)


async def test_anything_in_the_key_changing_asks_again(model_server: ModelServer,
                                                       tmp_path: Path) -> None:
    model_server.script(Text("a"), Text("b"), Text("c"), Text("d"))
    gateway = CachingGateway(ResponseCache(tmp_path), retries=0)
    target = _target(model_server)
    assert await _ask(gateway, target, _request("hello"), 0) == "a"
    assert await _ask(gateway, target, _request("hello", temperature=0.5), 0) == "b"
    assert await _ask(gateway, _target(model_server, "openai/other"), _request("hello"),
                      0) == "c"
    assert await _ask(gateway, target, _request("hello there"), 0) == "d"
    assert len(model_server.requests) == 4


def test_key_includes_tool_schemas_and_prompt() -> None:
    target = ModelTarget("m", "openai/m")
    base = _request("hi")
    tools = ModelRequest(base.messages, tools=[{"type": "function",
                                                "function": {"name": "x"}}])
    other_prompt = ModelRequest([{"role": "system", "content": "Be long."},
                                 base.messages[1]])
    keys = {request_key(target, r, 0)[0] for r in (base, tools, other_prompt)}
    assert len(keys) == 3


async def test_ids_in_requests_are_mapped_onto_the_replayed_answer(
        model_server: ModelServer, tmp_path: Path) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    model_server.script(ToolCalls([Call("get_contact", {"contact_id": str(first)})]))
    gateway = CachingGateway(ResponseCache(tmp_path), retries=0)
    target = _target(model_server)
    token = TRIAL.set(0)
    try:
        recorded = await gateway.complete([target], _request(f"open contact {first}"))
        replayed = await gateway.complete([target], _request(f"open contact {second}"))
    finally:
        TRIAL.reset(token)
    assert recorded.tool_calls[0].decoded() == {"contact_id": str(first)}
    assert replayed.tool_calls[0].decoded() == {"contact_id": str(second)}
    assert len(model_server.requests) == 1


async def test_failures_are_not_cached(model_server: ModelServer, tmp_path: Path) -> None:
    model_server.script(Error(400, "bad request"), Text("recovered"))
    gateway = CachingGateway(ResponseCache(tmp_path), retries=0)
    target = _target(model_server)
    with pytest.raises(GatewayError):
        await _ask(gateway, target, _request("hello"), 0)
    assert await _ask(gateway, target, _request("hello"), 0) == "recovered"
