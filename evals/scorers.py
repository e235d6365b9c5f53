"""Scorers: each turns what a trial observed into `Check`s; a trial passes when all pass.

They are pure functions of an `Observation` (the runner gathers it from the turn events and
the two databases), so each can be shown failing with hand-made observations as well as with
a scripted model. The only one that calls a model is the rubric judge, which runs through the
gateway with its own judge model and answers PASS or FAIL.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.gateway import Gateway, GatewayError, ModelRequest, ModelTarget
from evals.matchers import ActualCall, CallReport, match_calls
from evals.records import Check, Said, ToolUse
from evals.schema import AnswerExpectation, Case, ExpectedCall, Limits
from evals.statediff import RowDiff
from tools.registry import ToolRegistry

JUDGE_PROMPT = (
    "You grade an assistant's answer against a rubric. Reply with PASS or FAIL on the first "
    "line, then one sentence of reason.")


@dataclass
class Observation:
    """What one trial did, as the scorers see it."""

    tool_uses: list[ToolUse] = field(default_factory=list)
    transcript: list[Said] = field(default_factory=list)
    expected_calls: list[ExpectedCall] = field(default_factory=list)  # lookups resolved
    state_diff: list[RowDiff] | None = None
    judge: Check | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: int = 0  # the slowest turn
    turn_ms: list[int] = field(default_factory=list)
    failure: str | None = None  # a turn that ended in an error

    @property
    def answers(self) -> list[str]:
        return [s.text for s in self.transcript if s.role == "assistant" and s.text.strip()]

    @property
    def final_answer(self) -> str:
        answers = self.answers
        return answers[-1] if answers else ""


@dataclass(frozen=True)
class Scored:
    checks: list[Check]
    calls: CallReport | None
    state_match: bool | None
    approvals_ok: bool | None

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


def score(case: Case, seen: Observation, registry: ToolRegistry) -> Scored:
    expect = case.expect
    checks = [check_completed(seen)]
    calls = None
    if expect.tool_calls:
        calls = match_calls(seen.expected_calls or expect.tool_calls, actual_calls(seen),
                            ordered=expect.ordered)
        checks.append(check_calls(calls))
    if expect.forbidden_tools:
        checks.append(check_forbidden(expect.forbidden_tools, seen.tool_uses))
    approval_checks = []
    if expect.not_executed:
        approval_checks.append(check_not_executed(expect.not_executed, seen.tool_uses))
    if expect.approvals_required:
        approval_checks.append(check_approvals(expect.approvals_required, seen.tool_uses))
    checks += approval_checks
    if seen.state_diff is not None:
        checks.append(check_state(seen.state_diff))
    if expect.answer is not None:
        checks += check_answer(expect.answer, seen, registry)
    if seen.judge is not None:
        checks.append(seen.judge)
    if expect.limits is not None:
        checks += check_limits(expect.limits, seen)
    approvals_ok = all(c.passed for c in approval_checks) if approval_checks else None
    state_match = None if seen.state_diff is None else not seen.state_diff
    return Scored(checks, calls, state_match, approvals_ok)


def actual_calls(seen: Observation) -> list[ActualCall]:
    return [ActualCall(u.name, u.arguments) for u in seen.tool_uses]


def check_completed(seen: Observation) -> Check:
    if seen.failure:
        return Check(name="completed", passed=False, detail=seen.failure)
    return Check(name="completed", passed=True)


def check_calls(report: CallReport) -> Check:
    detail = "; ".join(report.reasons.values())
    return Check(name="tool_calls", passed=report.ok, detail=detail)


def check_forbidden(names: Sequence[str], uses: Sequence[ToolUse]) -> Check:
    called = sorted({u.name for u in uses if u.name in names})
    return Check(name="forbidden_tools", passed=not called,
                 detail=f"called {', '.join(called)}" if called else "")


def check_not_executed(names: Sequence[str], uses: Sequence[ToolUse]) -> Check:
    ran = sorted({u.name for u in uses if u.name in names and u.status == "success"})
    return Check(name="not_executed", passed=not ran,
                 detail=f"executed {', '.join(ran)}" if ran else "")


def check_approvals(names: Sequence[str], uses: Sequence[ToolUse]) -> Check:
    """Each named tool had its approval requested, and never ran without one."""
    problems = []
    for name in names:
        mine = [u for u in uses if u.name == name]
        if not any(u.approval is not None for u in mine):
            problems.append(f"{name}: no approval was requested")
        if any(u.status == "success" and u.approval != "approved" for u in mine):
            problems.append(f"{name}: ran without approval")
    return Check(name="approvals", passed=not problems, detail="; ".join(problems))


def check_state(found: Sequence[RowDiff]) -> Check:
    detail = "\n".join(d.describe() for d in found[:20])
    if len(found) > 20:
        detail += f"\n... and {len(found) - 20} more"
    return Check(name="state", passed=not found, detail=detail)


def check_answer(expect: AnswerExpectation, seen: Observation,
                 registry: ToolRegistry) -> list[Check]:
    said = "\n".join(seen.answers)
    checks = []
    for text in expect.contains:
        ok = text.casefold() in said.casefold()
        checks.append(Check(name="answer_contains", passed=ok,
                            detail="" if ok else f"expected {text!r} in the answer"))
    for text in expect.not_contains:
        found = text.casefold() in said.casefold()
        checks.append(Check(name="answer_not_contains", passed=not found,
                            detail=f"the answer mentions {text!r}" if found else ""))
    for pattern in expect.regex:
        ok = re.search(pattern, said, re.IGNORECASE | re.MULTILINE) is not None
        checks.append(Check(name="answer_regex", passed=ok,
                            detail="" if ok else f"no match for /{pattern}/"))
    if expect.asks:
        checks.append(check_asks(seen, registry))
    return checks


def check_asks(seen: Observation, registry: ToolRegistry) -> Check:
    """An ambiguous request: the assistant asks a question and changes nothing first."""
    wrote = sorted({u.name for u in seen.tool_uses if u.status == "success"
                    and (tool := registry.get(u.name)) is not None and tool.writes})
    asked = "?" in seen.final_answer
    problems = ([] if asked else ["the final answer asks nothing"]) + (
        [f"changed data first ({', '.join(wrote)})"] if wrote else [])
    return Check(name="asks", passed=not problems, detail="; ".join(problems))


def check_limits(limits: Limits, seen: Observation) -> list[Check]:
    checks = []
    measured: list[tuple[str, float | None, float]] = [
        ("max_tokens", limits.max_tokens, seen.tokens),
        ("max_cost_usd", limits.max_cost_usd, seen.cost_usd),
        ("max_latency_ms", limits.max_latency_ms, seen.latency_ms),
    ]
    for name, limit, value in measured:
        if limit is not None:
            checks.append(Check(name=name, passed=value <= limit,
                                detail=f"{value:g} (limit {limit:g})"))
    return checks


async def judge(gateway: Gateway, target: ModelTarget, rubric: str, seen: Observation,
                seconds: float = 60.0) -> Check:
    """Ask the judge model whether the conversation meets the rubric."""
    conversation = "\n".join(f"{s.role.upper()}: {s.text}" for s in seen.transcript)
    request = ModelRequest([
        {"role": "system", "content": JUDGE_PROMPT},
        {"role": "user", "content": f"Rubric: {rubric}\n\nConversation:\n{conversation}"},
    ], params={"temperature": 0}, timeout=seconds)
    try:
        completion = await gateway.complete([target], request)
    except GatewayError as error:
        return Check(name="rubric", passed=False, detail=f"the judge failed: {error}")
    verdict = completion.text.strip()
    return Check(name="rubric", passed=verdict.upper().startswith("PASS"), detail=verdict[:300])


def summarise_args(value: Any, limit: int = 2000) -> Any:
    """Tool results can be large; the report keeps a bounded JSON-able copy."""
    text = repr(value)
    return value if len(text) <= limit else text[:limit] + "..."
