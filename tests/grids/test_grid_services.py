"""The assistant's model call for ai nodes, driven against the scripted model server on
loopback: the workspace's model routing, the prompt as sent, and the usage ledger."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from assistant.deps import RuntimeDeps
from assistant.gateway import Gateway
from assistant.grid_services import GatewayModelCall
from assistant.settings import RuntimeSettings
from store.db import Database
from store.models.neptune import UsageLedger
from tests.conftest import WorkspaceFixture
from tests.grids.support import Sessions, chain, node, run_grid
from tests.model_server import Error, ModelServer, Text
from tests.tools.helpers import rows
from tools.grids.model import MODEL_SERVICE
from tools.registry import ToolRegistry


@pytest.fixture
async def model_server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture
def model_call(database: Database, catalog: ToolRegistry, model_server: ModelServer,
               monkeypatch: pytest.MonkeyPatch) -> GatewayModelCall:
    monkeypatch.setenv("NEPTUNE_GRID_TEST_KEY", "sk-grid-test")
    route = {"model": "openai/grid-model", "api_base": model_server.base_url,
             "api_key_env": "NEPTUNE_GRID_TEST_KEY"}
    settings = RuntimeSettings(model="main", model_aliases={"main": route},
                               model_timeout=5.0, retry_backoff=0.01, model_retries=0)
    return GatewayModelCall(RuntimeDeps(database, Gateway(retries=0, backoff=0.01), catalog,
                                        settings))


async def test_ai_node_through_the_gateway(call_tool: Any, sessions: Sessions,
                                           ws: WorkspaceFixture, model_server: ModelServer,
                                           model_call: GatewayModelCall) -> None:
    model_server.script(Text('{"score": 91, "why": "big company"}'))
    nodes = [node("start", "trigger"),
             node("score", "ai", system="Answer in JSON.", parse_json=True,
                  prompt="Score the lead {{ input.name }} from {{ input.company }}.")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "score"),
                         {"name": "Ada", "company": "Acme"}, services={MODEL_SERVICE: model_call})
    assert run.status == "completed", run.execution.error
    assert run.output("score") == {"score": 91, "why": "big company"}
    [request] = model_server.requests
    assert request.model == "grid-model"
    assert request.messages == [{"role": "system", "content": "Answer in JSON."},
                                {"role": "user", "content": "Score the lead Ada from Acme."}]
    [usage] = await rows(sessions, ws, UsageLedger)
    assert (usage.purpose, usage.model, usage.status, usage.user_id) == (
        "grid", "openai/grid-model", "success", ws.user_id)
    assert run.by_node()["score"][0].output["logs"] == [
        "main: 10 prompt + 5 completion tokens"]


async def test_a_model_failure_fails_the_node(call_tool: Any, sessions: Sessions,
                                              ws: WorkspaceFixture, model_server: ModelServer,
                                              model_call: GatewayModelCall) -> None:
    model_server.script(Error(500, "upstream exploded"))
    nodes = [node("start", "trigger"), node("think", "ai", prompt="hi")]
    run = await run_grid(call_tool, sessions, ws, nodes, chain("start", "think"),
                         services={MODEL_SERVICE: model_call})
    assert run.status == "failed"
    assert run.execution.error["message"].startswith("the model could not answer: the model "
                                                     "is unavailable")
    assert "sk-grid-test" not in str(run.execution.error)
    [usage] = await rows(sessions, ws, UsageLedger)
    assert usage.status == "error" and usage.purpose == "grid"
