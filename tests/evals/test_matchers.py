"""Every argument matcher passing and failing, and expected calls matched against actual ones."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from evals.matchers import ActualCall, match_args, match_calls, match_value, parse_date
from evals.schema import ExpectedCall

TODAY = datetime.now(UTC).date()

CASES: list[tuple[str, Any, Any, Any]] = [
    # name, expected, an actual that matches, an actual that does not
    ("exact text", "Ada", "Ada", "ada"),
    ("exact number by value", 5000, 5000.0, 5001),
    ("exact bool is not a number", True, True, 1),
    ("one_of", {"one_of": ["open", "won"]}, "won", "lost"),
    ("approx relative", {"approx": 5000, "tol": 0.01}, 5040, 5100),
    ("approx absolute", {"approx": 10, "abs": 1}, 10.9, 11.5),
    ("approx needs a number", {"approx": 10, "abs": 1}, "10", "ten"),
    ("regex", {"regex": "^Q[1-4] review"}, "q3 review", "Review Q3"),
    ("contains", {"contains": "acme"}, "Hello ACME team", "Hello Globex"),
    ("icase", {"icase": "Dana "}, "dana", "Dan"),
    ("date iso", {"date": "2026-03-01"}, "2026-03-01T09:30:00+00:00", "2026-03-02"),
    ("date relative", {"date": "today+1"}, (TODAY + timedelta(days=1)).isoformat(),
     TODAY.isoformat()),
    ("any", {"any": True}, 0, None),
    ("unordered", {"unordered": ["a", {"icase": "B"}]}, ["b", "a"], ["a", "c"]),
    ("nested object", {"amount": {"approx": 10, "abs": 0}, "currency": "USD"},
     {"amount": 10, "currency": "USD", "note": "ignored"}, {"amount": 10, "currency": "EUR"}),
    ("list in order", ["x", "y"], ["x", "y"], ["y", "x"]),
]


@pytest.mark.parametrize(("expected", "good", "bad"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_matcher_passes_and_fails(expected: Any, good: Any, bad: Any) -> None:
    assert match_value(expected, good).ok
    verdict = match_value(expected, bad)
    assert not verdict.ok
    assert verdict.reason


def test_optional_and_absent_arguments() -> None:
    spec = {"due": {"optional": {"date": "2026-01-05"}}, "owner": {"absent": True}}
    assert match_args(spec, {}).ok
    assert match_args(spec, {"due": "2026-01-05", "owner": None}).ok
    assert not match_args(spec, {"due": "2026-01-06"}).ok
    assert "owner" in match_args(spec, {"owner": "dana"}).reason


def test_missing_argument_names_its_path() -> None:
    verdict = match_args({"deal": {"amount": 5}}, {"deal": {}})
    assert not verdict.ok and verdict.reason == "deal.amount: missing"
    assert not match_args({"a": 1}, "not an object").ok


def test_unresolved_lookup_is_an_error() -> None:
    with pytest.raises(ValueError, match="lookup"):
        match_value({"lookup": {"table": "contacts"}}, "x")


def test_parse_date() -> None:
    assert parse_date("today-2", today=date(2026, 1, 10)) == date(2026, 1, 8)
    assert parse_date("2026-01-10T23:00:00Z") == date(2026, 1, 10)
    assert parse_date("next tuesday") is None
    assert parse_date(3) is None


def _expected(*calls: tuple[str, dict[str, Any]]) -> list[ExpectedCall]:
    return [ExpectedCall(name=n, args=a) for n, a in calls]


def test_calls_match_in_any_order_unless_ordered() -> None:
    expected = _expected(("search_contacts", {"query": {"icase": "ada"}}),
                         ("create_deal", {"amount": 100}))
    actual = [ActualCall("create_deal", {"amount": 100}),
              ActualCall("search_contacts", {"query": "Ada"})]
    report = match_calls(expected, actual)
    assert report.ok and report.selection == 1.0 and report.arguments == 1.0
    ordered = match_calls(expected, actual, ordered=True)
    assert not ordered.ok
    assert "out of order" in " ".join(ordered.reasons.values())


def test_calls_report_wrong_tool_and_wrong_arguments() -> None:
    expected = _expected(("create_deal", {"amount": 100}), ("send_email", {}))
    actual = [ActualCall("create_deal", {"amount": 90}), ActualCall("create_task", {})]
    report = match_calls(expected, actual)
    assert not report.ok
    assert report.selection == 0.5  # create_deal was chosen, send_email was not
    assert report.arguments == 0.0  # ... and create_deal's arguments were wrong
    assert report.reasons == {0: "create_deal: amount: expected 100, got 90",
                              1: "send_email was not called"}


def test_each_expected_call_needs_its_own_actual_call() -> None:
    expected = _expected(("create_task", {}), ("create_task", {}))
    report = match_calls(expected, [ActualCall("create_task", {"title": "x"})])
    assert not report.ok and report.selection == 0.5
    assert match_calls([], []).selection is None
