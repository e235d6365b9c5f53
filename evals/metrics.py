"""Metrics from trial records, per (model x prompt) cell, per domain within a cell, per case.

- pass@1: the chance one trial passes (mean over cases of passes / trials);
- pass^k (tau-bench): the chance that all of k trials pass, estimated per case from its n trials
  with c passes as C(c, k) / C(n, k), then averaged over cases; reported for k = 1..n, and
  `pass_hat_k` is k = n, what the CI gate holds;
- tool-selection and argument accuracy (`evals.matchers.CallReport`), state match, approval
  correctness: means over the trials where the case checks them (None where none does);
- tokens and cost (mean and total per trial), latency p50/p95 over every turn's wall time.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from evals.records import TrialRecord


def pass_hat(outcomes: Sequence[bool], k: int) -> float:
    """The unbiased estimate that k trials drawn from these outcomes all pass."""
    n, c = len(outcomes), sum(outcomes)
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and the number of trials ({n}), not {k}")
    return math.comb(c, k) / math.comb(n, k)


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return float(ordered[rank - 1])


def _mean(values: Iterable[float | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return round(sum(present) / len(present), 4) if present else None


def by_case(records: Sequence[TrialRecord]) -> dict[str, list[TrialRecord]]:
    grouped: dict[str, list[TrialRecord]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.case_id, r.trial)):
        grouped[record.case_id].append(record)
    return dict(grouped)


def summary(records: Sequence[TrialRecord]) -> dict[str, Any]:
    """The metrics of one group of trials (a cell, or one domain of a cell)."""
    cases = by_case(records)
    k = min((len(trials) for trials in cases.values()), default=0)
    curve = {str(j): round(sum(pass_hat([t.passed for t in trials], j)
                               for trials in cases.values()) / len(cases), 4)
             for j in range(1, k + 1)} if cases else {}
    turns = [float(ms) for r in records for ms in (r.turn_ms or [r.latency_ms])]
    n = max(1, len(records))
    return {
        "cases": len(cases), "trials": len(records), "k": k,
        "pass_at_1": curve.get("1", 0.0), "pass_hat_k": curve.get(str(k), 0.0),
        "pass_hat": curve,
        "tool_selection": _mean(r.selection for r in records),
        "argument_accuracy": _mean(r.arguments for r in records),
        "state_match": _mean(r.state_match for r in records),
        "approval_correctness": _mean(r.approvals_ok for r in records),
        "tokens_mean": round(sum(r.tokens for r in records) / n, 1),
        "tokens_total": sum(r.tokens for r in records),
        "cost_usd_mean": round(sum(r.cost_usd for r in records) / n, 6),
        "cost_usd_total": round(sum(r.cost_usd for r in records), 6),
        "latency_p50_ms": percentile(turns, 0.5), "latency_p95_ms": percentile(turns, 0.95),
        "errors": sum(1 for r in records if r.error),
    }


def case_summary(trials: Sequence[TrialRecord]) -> dict[str, Any]:
    failing = sorted({c.name for t in trials for c in t.checks if not c.passed})
    outcomes = [t.passed for t in trials]
    return {"domain": trials[0].domain, "tags": trials[0].tags, "trials": len(trials),
            "passes": sum(outcomes), "pass_at_1": round(sum(outcomes) / len(outcomes), 4),
            "pass_hat_k": round(pass_hat(outcomes, len(outcomes)), 4),
            "failing_checks": failing}


def compute(records: Sequence[TrialRecord]) -> dict[str, Any]:
    cells: dict[str, list[TrialRecord]] = defaultdict(list)
    for record in records:
        cells[record.cell].append(record)
    out: dict[str, Any] = {"cells": {}, "domains": {}, "cases": {}}
    for cell, mine in sorted(cells.items()):
        out["cells"][cell] = summary(mine)
        domains: dict[str, list[TrialRecord]] = defaultdict(list)
        for record in mine:
            domains[record.domain].append(record)
        out["domains"][cell] = {d: summary(rs) for d, rs in sorted(domains.items())}
        out["cases"][cell] = {case: case_summary(ts) for case, ts in by_case(mine).items()}
    return out
