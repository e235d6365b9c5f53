"""The committed datasets: valid, covering every domain and kind of case, and naming only
tools that exist (a misspelt tool would make a case fail, or pass, for the wrong reason)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evals.cli import DATASETS
from evals.schema import Case, load_cases, load_dataset
from tools.catalog import DOMAINS, load_catalog


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return load_cases([DATASETS])


def test_every_domain_and_kind_of_case_is_covered(cases: list[Case]) -> None:
    assert len(cases) >= 80
    domains = Counter(c.domain for c in cases)
    assert set(domains) == set(DOMAINS)
    assert min(domains.values()) >= 5
    tags = Counter(t for c in cases for t in c.tags)
    for kind in ("multi-step", "multi-turn", "approval", "ambiguity", "injection",
                 "cross-workspace"):
        assert tags[kind] >= 1, kind
    assert sum(c.expect.state is not None and bool(c.expect.state.gold) for c in cases) >= 20


def test_cases_name_only_real_tools(cases: list[Case]) -> None:
    registry = load_catalog()
    unknown = []
    for case in cases:
        named = [*case.approve, *case.reject, *case.expect.forbidden_tools,
                 *case.expect.not_executed, *case.expect.approvals_required,
                 *(c.name for c in case.expect.tool_calls),
                 *(g.tool for g in (case.expect.state.gold if case.expect.state else []))]
        unknown += [f"{case.id}: {n}" for n in named if n != "*" and registry.get(n) is None]
    assert unknown == []


def test_a_case_that_does_not_validate_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {id: x.y, domain: nowhere, turns: [hi]}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="domain must be one of"):
        load_dataset(bad)
    both = tmp_path / "both.yaml"
    both.write_text("- {id: x.y, domain: crm, turns: [hi], user: {persona: p, goal: g, "
                    "opening: o}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="either scripted"):
        load_dataset(both)
    twice = tmp_path / "twice.yaml"
    twice.write_text("- {id: x.y, domain: crm, turns: [hi]}\n" * 2, encoding="utf-8")
    with pytest.raises(ValueError, match="appears twice"):
        load_cases([twice])
