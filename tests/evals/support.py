"""Shared by the harness tests: a harness on the test database, driven by the scripted model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from assistant.settings import RuntimeSettings
from evals.schema import Case
from tests.model_server import ModelServer, RecordedRequest

SCRIPTED = "scripted"


def scripted_settings(server: ModelServer) -> RuntimeSettings:
    aliases = {SCRIPTED: {"model": "openai/scripted-model", "api_base": server.base_url,
                          "api_key_env": "NEPTUNE_EVAL_TEST_KEY"},
               "judge": {"model": "openai/judge-model", "api_base": server.base_url,
                         "api_key_env": "NEPTUNE_EVAL_TEST_KEY"}}
    values: dict[str, Any] = {"model": SCRIPTED, "model_aliases": aliases,
                              "model_timeout": 10.0, "retry_backoff": 0.01, "model_retries": 0}
    return RuntimeSettings(**values)


def case(**fields: Any) -> Case:
    values: dict[str, Any] = {"domain": "tasks"}
    values.update(fields)
    return Case.model_validate(values)


def said_last(text: str) -> Callable[[RecordedRequest], bool]:
    """The request's newest message is the user saying `text` (the model's first step)."""
    def predicate(request: RecordedRequest) -> bool:
        last = request.messages[-1] if request.messages else {}
        return last.get("role") == "user" and last.get("content") == text
    return predicate


def after_tool(text: str) -> Callable[[RecordedRequest], bool]:
    """The conversation of `text` has a tool result as its newest message."""
    def predicate(request: RecordedRequest) -> bool:
        users = [m for m in request.messages if m.get("role") == "user"]
        last = request.messages[-1] if request.messages else {}
        return bool(users) and users[-1].get("content") == text and last.get("role") == "tool"
    return predicate
