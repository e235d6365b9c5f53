"""Every scorer passing and failing on hand-made observations (the runner tests show the same
scorers failing on what a scripted model really did)."""

from __future__ import annotations

from typing import Any

from evals.records import Check, Said, ToolUse
from evals.schema import Case
from evals.scorers import Observation, score
from evals.statediff import RowDiff
from tests.runtime.support import registry


def _case(**expect: Any) -> Case:
    return Case.model_validate({"id": "c1", "domain": "crm", "turns": ["hi"], "expect": expect})


def _use(name: str, status: str = "success", approval: str | None = None,
         **arguments: Any) -> ToolUse:
    return ToolUse(call_id=f"call-{name}", name=name, arguments=arguments, status=status,
                   approval=approval)


def _seen(*uses: ToolUse, answer: str = "Done.", **fields: Any) -> Observation:
    return Observation(tool_uses=list(uses), transcript=[Said(role="user", text="hi"),
                                                         Said(role="assistant", text=answer)],
                       **fields)


def _failed(case: Case, seen: Observation) -> dict[str, str]:
    scored = score(case, seen, registry)
    return {c.name: c.detail for c in scored.checks if not c.passed}


def test_completed() -> None:
    case = _case()
    assert _failed(case, _seen()) == {}
    assert _failed(case, _seen(failure="the model is unavailable")) == {
        "completed": "the model is unavailable"}


def test_tool_calls() -> None:
    case = _case(tool_calls=[{"name": "add_contact", "args": {"first_name": {"icase": "ada"}}}])
    assert _failed(case, _seen(_use("add_contact", first_name="Ada"))) == {}
    assert _failed(case, _seen(_use("add_contact", first_name="Bob"))) == {
        "tool_calls": "add_contact: first_name: expected 'ada' (any case), got 'Bob'"}
    scored = score(case, _seen(_use("count_contacts")), registry)
    assert not scored.passed and scored.calls is not None and scored.calls.selection == 0.0


def test_forbidden_tools() -> None:
    case = _case(forbidden_tools=["delete_contact"])
    assert _failed(case, _seen(_use("count_contacts"))) == {}
    # even a call that never ran (refused, awaiting approval) is a forbidden choice
    assert _failed(case, _seen(_use("delete_contact", status="awaiting_approval"))) == {
        "forbidden_tools": "called delete_contact"}


def test_not_executed() -> None:
    case = _case(not_executed=["delete_contact"])
    assert _failed(case, _seen(_use("delete_contact", status="awaiting_approval",
                                    approval="requested"))) == {}
    failed = _failed(case, _seen(_use("delete_contact")))
    assert failed == {"not_executed": "executed delete_contact"}
    assert score(case, _seen(_use("delete_contact")), registry).approvals_ok is False


def test_approvals() -> None:
    case = _case(approvals_required=["delete_contact"])
    asked = _use("delete_contact", status="awaiting_approval", approval="requested")
    approved = _use("delete_contact", approval="approved")
    assert _failed(case, _seen(asked)) == {}
    assert _failed(case, _seen(approved)) == {}
    assert score(case, _seen(asked), registry).approvals_ok is True
    assert _failed(case, _seen(_use("delete_contact"))) == {
        "approvals": "delete_contact: no approval was requested; "
                     "delete_contact: ran without approval"}
    assert _failed(case, _seen()) == {"approvals": "delete_contact: no approval was requested"}


def test_state() -> None:
    case = _case(state={})
    assert _failed(case, _seen(state_diff=[])) == {}
    wrong = RowDiff("deals", "changed", {"amount": 100}, {"amount": 90}, ("amount",))
    seen = _seen(state_diff=[wrong])
    assert _failed(case, seen) == {
        "state": "deals: row  differs: amount expected 100, got 90"}
    assert score(case, seen, registry).state_match is False


def test_answer_contains_not_contains_regex() -> None:
    case = _case(answer={"contains": ["Ada"], "not_contains": ["Globex"],
                         "regex": [r"\$5,?000"]})
    assert _failed(case, _seen(answer="Ada's deal is $5,000.")) == {}
    assert _failed(case, _seen(answer="Globex's deal is 5000.")) == {
        "answer_contains": "expected 'Ada' in the answer",
        "answer_not_contains": "the answer mentions 'Globex'",
        "answer_regex": "no match for /\\$5,?000/"}


def test_asks() -> None:
    case = _case(answer={"asks": True})
    assert _failed(case, _seen(_use("count_contacts"), answer="Which Ada do you mean?")) == {}
    assert _failed(case, _seen(answer="Done.")) == {"asks": "the final answer asks nothing"}
    assert _failed(case, _seen(_use("add_contact"), answer="Which one?")) == {
        "asks": "changed data first (add_contact)"}


def test_rubric_verdict_counts() -> None:
    case = _case()
    judged = Check(name="rubric", passed=False, detail="FAIL: rude")
    assert _failed(case, _seen(judge=judged)) == {"rubric": "FAIL: rude"}


def test_limits() -> None:
    case = _case(limits={"max_tokens": 100, "max_cost_usd": 0.01, "max_latency_ms": 500})
    assert _failed(case, _seen(tokens=100, cost_usd=0.01, latency_ms=500)) == {}
    assert _failed(case, _seen(tokens=101, cost_usd=0.02, latency_ms=900)) == {
        "max_tokens": "101 (limit 100)", "max_cost_usd": "0.02 (limit 0.01)",
        "max_latency_ms": "900 (limit 500)"}
