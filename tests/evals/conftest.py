"""Eval harness fixtures: the scripted loopback model server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.model_server import ModelServer


@pytest.fixture(scope="session")
async def eval_model_server() -> AsyncIterator[ModelServer]:
    async with ModelServer() as server:
        yield server


@pytest.fixture
def model_server(eval_model_server: ModelServer) -> ModelServer:
    eval_model_server.reset()
    return eval_model_server
