"""The runner end to end on the test database, with the scripted loopback model as the agent:
the same case passes when the model does the right thing and fails, on the right check, when
it does not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.records import TrialRecord
from evals.runner import Cell, Harness, RunConfig
from store.bootstrap import DatabaseUrls
from tests.evals.support import SCRIPTED, after_tool, case, said_last, scripted_settings
from tests.model_server import Call, ModelServer, RecordedRequest, Text, ToolCalls

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


DELETE = "Delete the contact Charles Babbage"
BABBAGE = {"table": "contacts", "values": {"first_name": "Charles", "last_name": "Babbage",
                                           "email": "charles@difference.example"}}
BABBAGE_ID = {"lookup": {"table": "contacts", "where": {"email": "charles@difference.example"}}}


def _delete_case(**fields: object) -> object:
    return case(id="crm.delete", domain="crm", turns=[DELETE],
                fixture={"extra_rows": [BABBAGE]}, **fields)


def _script_delete(server: ModelServer, contact_id: str) -> None:
    server.rule(said_last(DELETE), ToolCalls([Call("delete_contact", {"contact_id": contact_id},
                                                   id="call_del")]))
    server.rule(lambda r: r.messages[-1].get("role") == "tool", Text("Done: deleted."))


async def _babbage_id(harness: Harness) -> str:
    from evals.fixtures import member_for, resolve
    from store.tenancy import scoped_session

    clone = await harness.fixtures.clone()
    try:
        tried = _delete_case()
        from evals.gold import prepare_clone

        member = member_for(tried.fixture)  # type: ignore[attr-defined]
        await prepare_clone(clone, tried, member)  # type: ignore[arg-type]
        async with scoped_session(clone.database.sessions, member.scope) as session:
            return str(await resolve(session, BABBAGE_ID, wrap=False))
    finally:
        await harness.fixtures.drop(clone)


async def test_an_unapproved_risky_call_waits_and_changes_nothing(
        harness: Harness, model_server: ModelServer) -> None:
    _script_delete(model_server, await _babbage_id(harness))
    tried = _delete_case(expect={"approvals_required": ["delete_contact"],
                                 "not_executed": ["delete_contact"], "state": {}})
    record = await harness.trial(tried, CELL, 0)  # type: ignore[arg-type]
    assert failed(record) == {}
    [use] = record.tool_uses
    assert (use.status, use.approval) == ("awaiting_approval", "requested")
    assert record.approvals_ok is True and record.state_match is True


async def test_an_approved_call_runs_once_and_matches_gold(
        harness: Harness, model_server: ModelServer) -> None:
    _script_delete(model_server, await _babbage_id(harness))
    tried = _delete_case(approve=["delete_contact"], expect={
        "approvals_required": ["delete_contact"],
        "state": {"gold": [{"tool": "delete_contact", "args": {"contact_id": BABBAGE_ID}}]}})
    record = await harness.trial(tried, CELL, 0)  # type: ignore[arg-type]
    assert failed(record) == {}
    [use] = record.tool_uses
    assert (use.call_id, use.status, use.approval) == ("call_del", "success", "approved")
    # the same case, had nobody approved: the state check catches the row still being there
    rejected = _delete_case(reject=["delete_contact"], expect=tried.expect)  # type: ignore[attr-defined]
    model_server.reset()
    _script_delete(model_server, await _babbage_id(harness))
    record = await harness.trial(rejected, CELL, 0)  # type: ignore[arg-type]
    assert set(failed(record)) == {"state"}
    assert record.tool_uses[0].approval == "rejected"
    assert record.diff[0].startswith("contacts: extra row (first_name='Charles')")


async def test_a_low_risk_write_named_as_needing_approval_fails_approvals(
        harness: Harness, model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), ToolCalls([Call("create_task", {"title": "Call Ada"})]))
    model_server.rule(after_tool(TASK), Text("I created the task."))
    tried = case(id="tasks.approval", turns=[TASK],
                 expect={"approvals_required": ["create_task"]})
    record = await harness.trial(tried, CELL, 0)
    assert failed(record) == {"approvals": "create_task: no approval was requested; "
                                           "create_task: ran without approval"}
    assert record.approvals_ok is False


async def test_ambiguity_and_cross_workspace_checks_fail_when_the_model_misbehaves(
        harness: Harness, model_server: ModelServer) -> None:
    ask = "Create a deal"
    model_server.rule(said_last(ask), Text("Done, I created a deal."))
    tried = case(id="crm.ambiguous", domain="crm", turns=[ask],
                 expect={"answer": {"asks": True}, "state": {}})
    assert failed(await harness.trial(tried, CELL, 0)) == {
        "asks": "the final answer asks nothing"}
    leak = "What is Hedy's email?"
    model_server.rule(said_last(leak), Text("It is hedy@frequency-hop.example."))
    probe = case(id="crm.leak", domain="crm", turns=[leak],
                 expect={"answer": {"not_contains": ["hedy@frequency-hop.example"]}})
    assert set(failed(await harness.trial(probe, CELL, 0))) == {"answer_not_contains"}


def _system(request: RecordedRequest) -> str:
    first = request.messages[0] if request.messages else {}
    return str(first.get("content") or "") if first.get("role") == "system" else ""


async def test_the_rubric_judge_passes_and_fails(harness: Harness,
                                                 model_server: ModelServer) -> None:
    from evals.scorers import JUDGE_PROMPT

    hello = "Say hello politely"
    model_server.rule(said_last(hello), Text("Hello! How can I help?"))
    model_server.rule(lambda r: _system(r) == JUDGE_PROMPT and "Be polite" in str(r.messages),
                      Text("PASS\nIt greets the user."))
    model_server.rule(lambda r: _system(r) == JUDGE_PROMPT, Text("FAIL\nIt is not in French."))
    polite = case(id="workspace.polite", domain="workspace", turns=[hello],
                  expect={"answer": {"rubric": "Be polite", "judge_model": "judge"}})
    french = case(id="workspace.french", domain="workspace", turns=[hello],
                  expect={"answer": {"rubric": "Answer in French", "judge_model": "judge"}})
    assert failed(await harness.trial(polite, CELL, 0)) == {}
    assert failed(await harness.trial(french, CELL, 0)) == {
        "rubric": "FAIL\nIt is not in French."}
    judged = [r for r in model_server.requests if _system(r) == JUDGE_PROMPT]
    assert judged[0].model == "judge-model"
    assert "ASSISTANT: Hello! How can I help?" in judged[0].messages[1]["content"]


async def test_a_simulated_user_talks_until_it_says_stop(harness: Harness,
                                                         model_server: ModelServer) -> None:
    from evals.simuser import STOP

    opening = "I need a task for the audit"
    model_server.rule(said_last(opening), Text("Sure, what should the task be called?"))
    model_server.rule(said_last("Call it Prepare audit binder"),
                      ToolCalls([Call("create_task", {"title": "Prepare audit binder"})]))
    model_server.rule(after_tool("Call it Prepare audit binder"), Text("Created it."))
    playing = "You are playing a person"
    model_server.rule(lambda r: playing in _system(r) and "Created it." in str(r.messages),
                      Text(STOP))
    model_server.rule(lambda r: playing in _system(r), Text("Call it Prepare audit binder"))
    simulated = case(id="tasks.simulated", turns=[], user={
        "persona": "a busy office manager", "goal": "get a task created for the audit",
        "known_facts": ["the task is 'Prepare audit binder'"], "opening": opening,
        "max_turns": 4, "model": "judge"},
        expect={"tool_calls": [{"name": "create_task",
                                "args": {"title": "Prepare audit binder"}}],
                "state": {"gold": [{"tool": "create_task",
                                    "args": {"title": "Prepare audit binder"}}]}})
    record = await harness.trial(simulated, CELL, 0)
    assert failed(record) == {}
    assert [(s.role, s.text) for s in record.transcript] == [
        ("user", opening), ("assistant", "Sure, what should the task be called?"),
        ("user", "Call it Prepare audit binder"), ("assistant", "Created it.")]
    # the simulator sees the conversation with the roles swapped
    simulator = next(r for r in model_server.requests if playing in _system(r))
    assert [m["role"] for m in simulator.messages] == ["system", "assistant", "user"]


async def test_limits_fail_when_a_trial_spends_too_much(harness: Harness,
                                                        model_server: ModelServer) -> None:
    model_server.rule(said_last(TASK), Text("I created the task."))
    tight = case(id="tasks.limits", turns=[TASK],
                 expect={"limits": {"max_tokens": 5, "max_latency_ms": 60000}})
    assert failed(await harness.trial(tight, CELL, 0)) == {"max_tokens": "15 (limit 5)"}


async def test_a_cached_rerun_replays_each_trial_without_the_model(
        db_urls: DatabaseUrls, eval_model_server: ModelServer, tmp_path: Path) -> None:
    cached = Harness(db_urls, RunConfig(models=[SCRIPTED], cache_dir=tmp_path),
                     settings=scripted_settings(eval_model_server))
    eval_model_server.reset()
    eval_model_server.rule(said_last(TASK), ToolCalls([Call("create_task",
                                                            {"title": "Call Ada"})]))
    eval_model_server.rule(after_tool(TASK), Text("I created the task."))
    first = await cached.trial(TASK_CASE, CELL, 0)
    assert failed(first) == {} and len(eval_model_server.requests) == 2
    eval_model_server.reset()  # the model now answers nothing: only the cache can
    again = await cached.trial(TASK_CASE, CELL, 0)  # a fresh clone, new ids, same answers
    assert failed(again) == {} and eval_model_server.requests == []
    assert again.tool_uses[0].arguments == {"title": "Call Ada"}
    other = await cached.trial(TASK_CASE, CELL, 1)  # another trial is a sample of its own
    assert len(eval_model_server.requests) == 1 and "completed" in failed(other)
