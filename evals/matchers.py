"""Argument matchers (after the Berkeley Function Calling Leaderboard) and call matching.

An expected argument in a dataset is either a plain value (exact match; numbers compare by value)
or a one-key mapping naming a matcher:

    {one_of: [a, b]}          any of these values
    {approx: 5000, tol: 0.01} a number within a relative tolerance (or `abs: 1`)
    {regex: "^Q[1-4]"}        re.search, case-insensitive
    {contains: "acme"}        a case-insensitive substring
    {icase: "Dana"}           equal ignoring case and surrounding space
    {date: "today+1"}         a date (ISO, or today[+-N] in UTC); datetimes compare by their date
    {optional: <matcher>}     may be absent; when present it must match
    {absent: true}            must be absent (or null)
    {any: true}               present, with any value
    {unordered: [...]}        a list whose items match in any order
    {lookup: {table, where, column}}   a value read from the case's workspace (see fixtures)

A nested mapping matches a nested object key by key; arguments the case does not mention are
not checked. Expected calls match actual calls order-free (parallel calls arrive in any order)
unless the case says `ordered: true`; every expected call needs a distinct actual call.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

MATCHERS = frozenset({"one_of", "approx", "regex", "contains", "icase", "date", "optional",
                      "absent", "any", "unordered", "lookup"})
MISSING: Any = object()
RELATIVE_DATE = re.compile(r"^today(?:\s*([+-])\s*(\d+))?$")


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str = ""


OK = Verdict(True)


def is_matcher(expected: Any) -> bool:
    return isinstance(expected, Mapping) and len(expected) >= 1 and next(
        iter(expected)) in MATCHERS


def match_value(expected: Any, actual: Any, path: str = "") -> Verdict:
    """Whether `actual` satisfies `expected`; the reason names the first mismatch."""
    where = path or "value"
    if is_matcher(expected):
        return _special(expected, actual, where)
    if actual is MISSING:
        return Verdict(False, f"{where}: missing")
    if isinstance(expected, Mapping):
        return _mapping(expected, actual, where)
    if isinstance(expected, list):
        return _sequence(expected, actual, where)
    return _exact(expected, actual, where)


def match_args(expected: Mapping[str, Any], actual: Any) -> Verdict:
    """The arguments of one call against the case's expected arguments."""
    if not isinstance(actual, Mapping):
        return Verdict(False, f"arguments are not an object: {actual!r}"[:200])
    return _mapping(expected, actual, "")


def _exact(expected: Any, actual: Any, where: str) -> Verdict:
    if _numbers(expected, actual):
        ok = float(expected) == float(actual)
    else:
        ok = type(expected) is type(actual) and expected == actual
    return OK if ok else Verdict(False, f"{where}: expected {expected!r}, got {actual!r}")


def _numbers(*values: Any) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _mapping(expected: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    if not isinstance(actual, Mapping):
        return Verdict(False, f"{where}: expected an object, got {actual!r}")
    for key, value in expected.items():
        verdict = match_value(value, actual.get(key, MISSING), f"{where}.{key}".lstrip("."))
        if not verdict.ok:
            return verdict
    return OK


def _sequence(expected: list[Any], actual: Any, where: str) -> Verdict:
    if not isinstance(actual, list) or len(actual) != len(expected):
        return Verdict(False, f"{where}: expected {len(expected)} items, got {actual!r}")
    for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
        verdict = match_value(want, got, f"{where}[{index}]")
        if not verdict.ok:
            return verdict
    return OK


def _special(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    kind = next(iter(spec))
    if kind == "optional":
        return OK if actual is MISSING or actual is None else match_value(
            spec["optional"], actual, where)
    if kind == "absent":
        ok = actual is MISSING or actual is None
        return OK if ok else Verdict(False, f"{where}: expected no value, got {actual!r}")
    if actual is MISSING:
        return Verdict(False, f"{where}: missing")
    if kind == "lookup":
        raise ValueError(f"{where}: a lookup must be resolved before matching")
    return _CHECKS[kind](spec, actual, where)


def _one_of(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    if any(match_value(option, actual, where).ok for option in spec["one_of"]):
        return OK
    return Verdict(False, f"{where}: {actual!r} is none of {spec['one_of']!r}")


def _approx(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    target = float(spec["approx"])
    try:
        value = float(actual)
    except (TypeError, ValueError):
        return Verdict(False, f"{where}: expected a number near {target:g}, got {actual!r}")
    allowed = float(spec["abs"]) if "abs" in spec else abs(target) * float(spec.get("tol", 0.0))
    if abs(value - target) <= allowed:
        return OK
    return Verdict(False, f"{where}: {value:g} is not within {allowed:g} of {target:g}")


def _regex(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    if isinstance(actual, str) and re.search(spec["regex"], actual, re.IGNORECASE):
        return OK
    return Verdict(False, f"{where}: {actual!r} does not match /{spec['regex']}/")


def _contains(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    if isinstance(actual, str) and str(spec["contains"]).casefold() in actual.casefold():
        return OK
    return Verdict(False, f"{where}: {actual!r} does not contain {spec['contains']!r}")


def _icase(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    want = str(spec["icase"]).strip().casefold()
    if isinstance(actual, str) and actual.strip().casefold() == want:
        return OK
    return Verdict(False, f"{where}: expected {spec['icase']!r} (any case), got {actual!r}")


def _date(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    want, got = parse_date(spec["date"]), parse_date(actual)
    if got is not None and got == want:
        return OK
    return Verdict(False, f"{where}: expected the date {want}, got {actual!r}")


def _any(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    return OK if actual is not None else Verdict(False, f"{where}: expected a value, got null")


def _unordered(spec: Mapping[str, Any], actual: Any, where: str) -> Verdict:
    expected: list[Any] = list(spec["unordered"])
    if not isinstance(actual, list) or len(actual) != len(expected):
        return Verdict(False, f"{where}: expected {len(expected)} items, got {actual!r}")
    options = [[j for j, got in enumerate(actual) if match_value(want, got, where).ok]
               for want in expected]
    if len(assign(options, ordered=False)) == len(expected):
        return OK
    return Verdict(False, f"{where}: {actual!r} does not match {expected!r} in any order")


_CHECKS = {"one_of": _one_of, "approx": _approx, "regex": _regex, "contains": _contains,
           "icase": _icase, "date": _date, "any": _any, "unordered": _unordered}


def parse_date(value: Any, *, today: date | None = None) -> date | None:
    """An ISO date or datetime, or `today[+-N]` (UTC), as a date; None when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    relative = RELATIVE_DATE.match(text.lower())
    if relative:
        base = today or datetime.now(UTC).date()
        sign, days = relative.groups()
        return base + timedelta(days=int(days or 0) * (-1 if sign == "-" else 1))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def assign(options: Sequence[Sequence[int]], *, ordered: bool) -> dict[int, int]:
    """The largest matching of expected items to distinct actual indexes (item -> index);
    `ordered` makes the matched indexes increase with the items. Cases hold few calls, so a
    small exhaustive search is exact and fast enough."""
    best: dict[int, int] = {}

    def search(i: int, used: frozenset[int], floor: int, chosen: dict[int, int]) -> None:
        nonlocal best
        if len(chosen) + (len(options) - i) <= len(best):
            return
        if i == len(options):
            best = dict(chosen)
            return
        for j in options[i]:
            if j not in used and (not ordered or j > floor):
                search(i + 1, used | {j}, j, {**chosen, i: j})
        search(i + 1, used, floor, chosen)

    search(0, frozenset(), -1, {})
    return best


@dataclass(frozen=True)
class ActualCall:
    name: str
    arguments: Any


@dataclass(frozen=True)
class CallReport:
    """How the expected calls fared: per expected call, the actual call it matched (or why
    none did), and the two accuracies the metrics report."""

    matched: dict[int, int]
    reasons: dict[int, str]
    selection: float | None
    arguments: float | None

    @property
    def ok(self) -> bool:
        return not self.reasons


def match_calls(expected: Sequence[Any], actual: Sequence[ActualCall], *,
                ordered: bool = False) -> CallReport:
    """Match expected calls (objects with `name` and `args`) against the calls made."""
    if not expected:
        return CallReport({}, {}, None, None)
    named = [[j for j, a in enumerate(actual) if a.name == e.name] for e in expected]
    options = [[j for j in js if match_args(e.args, actual[j].arguments).ok]
               for e, js in zip(expected, named, strict=True)]
    matched = assign(options, ordered=ordered)
    by_name = assign(named, ordered=False)
    reasons = {i: _why(e, [actual[j] for j in named[i]]) for i, e in enumerate(expected)
               if i not in matched}
    selection = len(by_name) / len(expected)
    arguments = len(matched) / len(by_name) if by_name else 0.0
    return CallReport(matched, reasons, selection, min(1.0, arguments))


def _why(expected: Any, same_name: Sequence[ActualCall]) -> str:
    if not same_name:
        return f"{expected.name} was not called"
    verdicts = [match_args(expected.args, call.arguments) for call in same_name]
    failing = [v.reason for v in verdicts if not v.ok]
    if not failing:
        return f"{expected.name}: its matching call is out of order or used by another"
    return f"{expected.name}: {failing[0]}"
