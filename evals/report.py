"""The run's reports: a terminal table, the JSON file, and `compare` of two JSON files.

`compare` recomputes both runs' metrics over the cases they share (a dataset that grew or lost
cases is not a regression) and calls a cell regressed when its pass^k dropped by more than the
threshold; it also lists every case whose pass^k fell, with the checks that failed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals import metrics
from evals.records import RunReport, TrialRecord

SLIM_FIELDS = {"transcript", "tool_uses", "diff"}
COLUMNS = [("pass@1", "pass_at_1"), ("pass^k", "pass_hat_k"), ("tools", "tool_selection"),
           ("args", "argument_accuracy"), ("state", "state_match"),
           ("approvals", "approval_correctness")]


def write_json(report: RunReport, path: Path, *, slim: bool = False) -> None:
    """The report as JSON; `slim` keeps verdicts and metrics only (a committed baseline)."""
    data = report.model_dump(mode="json", exclude={"trials": {"__all__": SLIM_FIELDS}}
                             if slim else None)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n", encoding="utf-8")


def read_json(path: Path) -> RunReport:
    return RunReport.model_validate_json(path.read_text(encoding="utf-8"))


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):5.1f}%"


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def terminal(report: RunReport, *, failures: int = 30) -> str:
    """The matrix of cells, pass^k by domain, and the failing cases with their first reason."""
    cells = report.metrics.get("cells", {})
    k = report.info.trials
    head = ["model @ prompt", *[name for name, _ in COLUMNS], "tokens", "cost $", "p50 ms",
            "p95 ms"]
    rows = [head] + [[cell, *[_pct(m[key]) for _, key in COLUMNS], f"{m['tokens_mean']:.0f}",
                      f"{m['cost_usd_total']:.4f}", f"{m['latency_p50_ms']:.0f}",
                      f"{m['latency_p95_ms']:.0f}"] for cell, m in cells.items()]
    out = [f"{report.info.cases} cases x {len(cells)} cells x {k} trials in "
           f"{report.info.seconds:.0f}s (pass^k with k={k})", "", table(rows), ""]
    domains = sorted({d for per in report.metrics.get("domains", {}).values() for d in per})
    if domains:
        grid = [["domain", *cells]] + [
            [d, *[_pct(report.metrics["domains"][c].get(d, {}).get("pass_hat_k"))
                  for c in cells]] for d in domains]
        out += ["pass^k by domain", table(grid), ""]
    failing = [t for t in report.trials if not t.passed]
    if failing:
        out.append(f"failing trials ({len(failing)}):")
        for trial in failing[:failures]:
            check = next((c for c in trial.checks if not c.passed), None)
            reason = f"{check.name}: {check.detail}" if check else (trial.error or "")
            out.append(f"  {trial.case_id} [{trial.cell} #{trial.trial}] "
                       f"{reason.splitlines()[0][:150] if reason else ''}")
        if len(failing) > failures:
            out.append(f"  ... and {len(failing) - failures} more (see the HTML report)")
    return "\n".join(out)


@dataclass
class Comparison:
    threshold: float
    cells: dict[str, tuple[float, float]] = field(default_factory=dict)  # base, new pass^k
    regressed_cells: list[str] = field(default_factory=list)
    regressions: list[str] = field(default_factory=list)  # cases whose pass^k fell
    improvements: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    missing_cells: list[str] = field(default_factory=list)
    changed_tools: list[str] = field(default_factory=list)  # schema differs from the base run

    @property
    def failed(self) -> bool:
        return bool(self.regressed_cells or self.missing_cells)

    def render(self) -> str:
        lines = [table([["model @ prompt", "base pass^k", "new pass^k", "change"]] + [
            [cell, _pct(b), _pct(n), f"{100 * (n - b):+.1f}"]
            for cell, (b, n) in self.cells.items()])]
        for title, items in (("regressions", self.regressions),
                             ("improvements", self.improvements),
                             ("cells missing from the new run", self.missing_cells),
                             ("cases only in the new run", self.added),
                             ("cases only in the base run", self.removed),
                             ("tools whose schema changed", self.changed_tools)):
            if items:
                lines += [f"{title} ({len(items)}):", *(f"  {i}" for i in items)]
        verdict = (f"FAIL: pass^k dropped by more than {100 * self.threshold:.1f} points in "
                   f"{', '.join(self.regressed_cells)}" if self.regressed_cells else
                   "FAIL: a cell of the base run is missing" if self.missing_cells else
                   f"OK: no cell's pass^k dropped by more than {100 * self.threshold:.1f} points")
        return "\n".join([*lines, verdict])


def compare(base: RunReport, new: RunReport, threshold: float = 0.05) -> Comparison:
    result = Comparison(threshold)
    base_ids = {t.case_id for t in base.trials}
    new_ids = {t.case_id for t in new.trials}
    shared = base_ids & new_ids
    result.added, result.removed = sorted(new_ids - base_ids), sorted(base_ids - new_ids)
    result.changed_tools = sorted(name for name, digest in base.info.tools.items()
                                  if new.info.tools.get(name, digest) != digest)
    base_cells, new_cells = _cells(base.trials, shared), _cells(new.trials, shared)
    for cell, mine in base_cells.items():
        theirs = new_cells.get(cell)
        if theirs is None:
            result.missing_cells.append(cell)
            continue
        before, after = metrics.summary(mine), metrics.summary(theirs)
        result.cells[cell] = (before["pass_hat_k"], after["pass_hat_k"])
        if before["pass_hat_k"] - after["pass_hat_k"] > threshold + 1e-9:
            result.regressed_cells.append(cell)
        _case_changes(result, cell, mine, theirs)
    return result


def _cells(trials: Sequence[TrialRecord], shared: set[str]) -> dict[str, list[TrialRecord]]:
    cells: dict[str, list[TrialRecord]] = {}
    for trial in trials:
        if trial.case_id in shared:
            cells.setdefault(trial.cell, []).append(trial)
    return cells


def _case_changes(result: Comparison, cell: str, base: Sequence[TrialRecord],
                  new: Sequence[TrialRecord]) -> None:
    before, after = metrics.by_case(base), metrics.by_case(new)
    for case_id in sorted(before):
        old = metrics.case_summary(before[case_id])
        now = metrics.case_summary(after[case_id])
        if now["pass_hat_k"] < old["pass_hat_k"]:
            checks = ", ".join(now["failing_checks"]) or "?"
            result.regressions.append(
                f"{case_id} [{cell}]: pass^k {_pct(old['pass_hat_k']).strip()} -> "
                f"{_pct(now['pass_hat_k']).strip()} (failing: {checks})")
        elif now["pass_hat_k"] > old["pass_hat_k"]:
            result.improvements.append(f"{case_id} [{cell}]")
