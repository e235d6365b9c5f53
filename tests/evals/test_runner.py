"""The runner end to end on the test database, with the scripted loopback model as the agent:
the same case passes when the model does the right thing and fails, on the right check, when
it does not."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from evals.records import TrialRecord
from evals.runner import Cell, Harness, RunConfig
from store.bootstrap import DatabaseUrls
from tests.evals.support import SCRIPTED, after_tool, case, said_last, scripted_settings
from tests.model_server import Call, ModelServer, Text, ToolCalls

CELL = Cell(SCRIPTED, "v1")


@pytest.fixture(scope="module")
def harness(db_urls: DatabaseUrls, eval_model_server: ModelServer) -> Iterator[Harness]:
    yield Harness(db_urls, RunConfig(models=[SCRIPTED], trials=1, concurrency=2),
                  settings=scripted_settings(eval_model_server))


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEPTUNE_EVAL_TEST_KEY", "sk-eval-test")


def failed(record: TrialRecord) -> dict[str, str]:
    return {c.name: c.detail for c in record.checks if not c.passed}


TASK = "Create a task to call Ada tomorrow"
TASK_CASE = case(
    id="tasks.create", turns=[TASK],
    expect={"tool_calls": [{"name": "create_task",
                            "args": {"title": {"contains": "call ada"}}}],
            "state": {"gold": [{"tool": "create_task", "args": {"title": "Call Ada"}}]},
            "answer": {"contains": ["created"]}})


async def test_a_right_answer_passes(harness: Harness, model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), ToolCalls([Call("create_task", {"title": "Call Ada"})]))
    model_server.rule(after_tool(TASK), Text("I created the task."))
    record = await harness.trial(TASK_CASE, CELL, 0)
    assert failed(record) == {}
    assert record.passed and record.state_match is True and record.selection == 1.0
    assert [u.name for u in record.tool_uses] == ["create_task"]
    assert record.tool_uses[0].status == "success"
    assert [s.role for s in record.transcript] == ["user", "assistant"]
    assert record.tokens > 0 and record.turn_ms


async def test_wrong_arguments_fail_calls_and_state(harness: Harness,
                                                    model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), ToolCalls([Call("create_task", {"title": "Email Bob"})]))
    model_server.rule(after_tool(TASK), Text("I created the task."))
    record = await harness.trial(TASK_CASE, CELL, 0)
    assert set(failed(record)) == {"tool_calls", "state"}
    assert record.arguments == 0.0 and record.state_match is False
    assert record.diff == ["todo_hq_tasks: row (title='Call Ada') differs: "
                           "title expected 'Call Ada', got 'Email Bob'"]


async def test_doing_nothing_fails_state_and_answer(harness: Harness,
                                                    model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), Text("Sure thing."))
    record = await harness.trial(TASK_CASE, CELL, 0)
    assert set(failed(record)) == {"tool_calls", "state", "answer_contains"}
    assert record.diff[0].startswith("todo_hq_tasks: missing row (title='Call Ada')")
    assert record.selection == 0.0


async def test_an_extra_write_fails_state(harness: Harness, model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), ToolCalls([Call("create_task", {"title": "Call Ada"}),
                                                  Call("create_task", {"title": "Spam"})]))
    model_server.rule(after_tool(TASK), Text("I created the task."))
    record = await harness.trial(TASK_CASE, CELL, 0)
    assert failed(record) == {"state": record.diff[0]}
    assert record.diff[0].startswith("todo_hq_tasks: extra row (title='Spam')")


async def test_a_model_failure_is_a_failed_trial(harness: Harness,
                                                 model_server: ModelServer) -> None:
    record = await harness.trial(TASK_CASE, CELL, 0)  # nothing scripted: HTTP 500
    assert "completed" in failed(record)
    assert not record.passed
