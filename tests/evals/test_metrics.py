"""pass^k from trial outcomes, the per-cell metrics, and `compare` as the CI gate reads it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals import metrics
from evals.html import render
from evals.records import Check, RunInfo, RunReport, Said, TrialRecord
from evals.report import compare, read_json, terminal, write_json


def test_pass_hat_k_is_the_chance_that_k_trials_all_pass() -> None:
    assert metrics.pass_hat([True, True, True, True], 4) == 1.0
    assert metrics.pass_hat([True, True, False, True], 1) == 0.75
    # C(3,2)/C(4,2) = 3/6: of the six pairs of trials, three have both passing
    assert metrics.pass_hat([True, True, False, True], 2) == 0.5
    assert metrics.pass_hat([True, True, False, True], 4) == 0.0
    assert metrics.pass_hat([False, False], 1) == 0.0
    with pytest.raises(ValueError):
        metrics.pass_hat([True], 2)


def _trial(case: str, trial: int, passed: bool, *, model: str = "m", domain: str = "crm",
           **fields: object) -> TrialRecord:
    checks = [Check(name="tool_calls", passed=passed, detail="" if passed else "wrong tool")]
    return TrialRecord(case_id=case, domain=domain, model=model, prompt_version="v1",
                       trial=trial, passed=passed, checks=checks, **fields)  # type: ignore[arg-type]


def _report(trials: list[TrialRecord], k: int = 2) -> RunReport:
    info = RunInfo(started_at="2026-01-01T00:00:00+00:00", seconds=1.0, datasets=["d"],
                   models=sorted({t.model for t in trials}), prompt_versions=["v1"], trials=k,
                   concurrency=1, cases=len({t.case_id for t in trials}))
    return RunReport(info=info, trials=trials, metrics=metrics.compute(trials))


def test_cell_domain_and_case_metrics() -> None:
    trials = [_trial("a", 0, True, selection=1.0, tokens=100, turn_ms=[10, 30]),
              _trial("a", 1, True, selection=1.0, tokens=100, turn_ms=[20]),
              _trial("b", 0, True, domain="tasks", selection=0.5, state_match=True,
                     turn_ms=[40]),
              _trial("b", 1, False, domain="tasks", selection=0.0, state_match=False,
                     turn_ms=[1000])]
    computed = metrics.compute(trials)
    cell = computed["cells"]["m @ v1"]
    assert cell["pass_at_1"] == 0.75 and cell["pass_hat_k"] == 0.5 and cell["k"] == 2
    assert cell["pass_hat"] == {"1": 0.75, "2": 0.5}
    assert cell["tool_selection"] == 0.625 and cell["state_match"] == 0.5
    assert cell["approval_correctness"] is None
    assert cell["tokens_mean"] == 50.0 and cell["tokens_total"] == 200
    assert cell["latency_p50_ms"] == 30.0 and cell["latency_p95_ms"] == 1000.0
    assert computed["domains"]["m @ v1"]["crm"]["pass_hat_k"] == 1.0
    assert computed["domains"]["m @ v1"]["tasks"]["pass_hat_k"] == 0.0
    assert computed["cases"]["m @ v1"]["b"]["failing_checks"] == ["tool_calls"]


def test_compare_fails_on_a_drop_beyond_the_threshold() -> None:
    base = _report([_trial(c, t, True) for c in "abcd" for t in (0, 1)])
    same = _report([_trial(c, t, True) for c in "abcd" for t in (0, 1)])
    flaky = _report([_trial(c, t, not (c == "a" and t == 1)) for c in "abcd" for t in (0, 1)])
    assert not compare(base, same, 0.05).failed
    result = compare(base, flaky, 0.05)
    assert result.failed and result.regressed_cells == ["m @ v1"]
    assert result.cells["m @ v1"] == (1.0, 0.75)
    assert result.regressions == ["a [m @ v1]: pass^k 100.0% -> 0.0% (failing: tool_calls)"]
    assert "FAIL" in result.render()
    assert not compare(base, flaky, 0.30).failed  # within a looser threshold


def test_compare_ignores_added_cases_and_flags_a_missing_cell() -> None:
    base = _report([_trial("a", 0, True, model="m"), _trial("a", 0, True, model="n")], k=1)
    grown = _report([_trial("a", 0, True), _trial("new", 0, False)], k=1)
    result = compare(base, grown)
    assert result.added == ["new"] and result.cells["m @ v1"] == (1.0, 1.0)
    assert result.missing_cells == ["n @ v1"] and result.failed


def test_reports_round_trip_and_render(tmp_path: Path) -> None:
    trial = _trial("a<b>", 0, False, transcript=[Said(role="user", text="<script>x</script>")],
                   diff=["deals: missing row"])
    report = _report([trial], k=1)
    write_json(report, tmp_path / "full.json")
    write_json(report, tmp_path / "slim.json", slim=True)
    assert read_json(tmp_path / "full.json").trials[0].transcript[0].text == "<script>x</script>"
    slim = read_json(tmp_path / "slim.json")
    assert slim.trials[0].transcript == [] and slim.trials[0].passed is False
    assert not compare(read_json(tmp_path / "full.json"), slim).failed
    page = render(report)
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
    assert "deals: missing row" in page and "<svg" in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    text = terminal(report)
    assert "m @ v1" in text and "a<b> [m @ v1 #0] tool_calls: wrong tool" in text


def test_neptune_eval_compare_exit_codes(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    write_json(_report([_trial("a", 0, True)], k=1), tmp_path / "base.json")
    write_json(_report([_trial("a", 0, False)], k=1), tmp_path / "new.json")
    assert main(["eval", "compare", str(tmp_path / "base.json"), str(tmp_path / "base.json")]) == 0
    assert main(["eval", "compare", str(tmp_path / "base.json"), str(tmp_path / "new.json")]) == 1
    assert "a [m @ v1]: pass^k 100.0% -> 0.0%" in capsys.readouterr().out
    assert main(["eval", "compare", str(tmp_path / "base.json"), str(tmp_path / "nope.json")]) == 2


def test_compare_names_tools_whose_schema_changed() -> None:
    base, new = _report([_trial("a", 0, True)], k=1), _report([_trial("a", 0, True)], k=1)
    base.info.tools = {"create_deal": "aaaa", "search_contacts": "bbbb"}
    new.info.tools = {"create_deal": "cccc", "search_contacts": "bbbb"}
    result = compare(base, new)
    assert result.changed_tools == ["create_deal"] and not result.failed
    assert "tools whose schema changed (1):\n  create_deal" in result.render()
