"""The HTML report: one self-contained file (inline CSS and SVG, a few lines of inline script,
nothing fetched). The matrix of cells, pass^k by domain as a heat map and as bars, the pass^k
curve over k, and a drill-down per case: each trial's checks, transcript, tool calls (arguments,
status, approval, result) and database diff."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from evals.records import RunReport, TrialRecord
from evals.report import COLUMNS

PALETTE = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2"]
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#111;max-width:1200px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse;margin:8px 0}td,th{padding:4px 8px;border:1px solid #ddd;
text-align:right}td:first-child,th:first-child{text-align:left}
.ok{color:#047857}.bad{color:#b91c1c}.muted{color:#666}
details{border:1px solid #e5e5e5;border-radius:4px;margin:4px 0;padding:4px 8px}
summary{cursor:pointer}pre{white-space:pre-wrap;background:#f7f7f7;padding:6px;margin:4px 0;
font-size:12px}.said{margin:2px 0}.role{font-weight:600;display:inline-block;width:80px}
.legend span{display:inline-block;margin-right:12px}.sw{display:inline-block;width:10px;
height:10px;margin-right:4px}
"""
SCRIPT = """
document.getElementById('only-failing').addEventListener('change', function (e) {
  document.querySelectorAll('details.case').forEach(function (d) {
    d.style.display = e.target.checked && d.dataset.passed === 'yes' ? 'none' : '';
  });
});
"""


def _pct(value: Any) -> str:
    return "-" if value is None else f"{100 * float(value):.1f}%"


def _heat(value: Any) -> str:
    if value is None:
        return ""
    v = float(value)
    return f' style="background:hsl({int(120 * v)},70%,85%)"'


def render(report: RunReport) -> str:
    cells: dict[str, Any] = report.metrics.get("cells", {})
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Neptune evals</title>"
             f"<style>{STYLE}</style></head><body>",
             "<h1>Neptune eval report</h1>", _info(report), "<h2>Matrix</h2>", _matrix(cells),
             "<h2>pass^k by domain</h2>", _domains(report), _bars(report),
             "<h2>pass^k over k</h2>", _curve(cells), "<h2>Cases</h2>",
             "<label><input type='checkbox' id='only-failing'> only cases with a failed trial"
             "</label>", _cases(report.trials), f"<script>{SCRIPT}</script></body></html>"]
    return "\n".join(parts)


def _info(report: RunReport) -> str:
    info = report.info
    return (f"<p class='muted'>{info.cases} cases, {info.trials} trial(s) each, models "
            f"{escape(', '.join(info.models))}, prompts {escape(', '.join(info.prompt_versions))}"
            f"; started {escape(info.started_at)}, {info.seconds:.0f}s; datasets "
            f"{escape(', '.join(info.datasets))}; cache {escape(json.dumps(info.cache))}</p>")


def _matrix(cells: Mapping[str, Any]) -> str:
    head = "".join(f"<th>{escape(n)}</th>" for n, _ in COLUMNS)
    rows = []
    for cell, m in cells.items():
        values = "".join(f"<td{_heat(m[key])}>{_pct(m[key])}</td>" for _, key in COLUMNS)
        rows.append(f"<tr><td>{escape(cell)}</td>{values}<td>{m['tokens_mean']:.0f}</td>"
                    f"<td>{m['cost_usd_total']:.4f}</td><td>{m['latency_p50_ms']:.0f}</td>"
                    f"<td>{m['latency_p95_ms']:.0f}</td><td>{m['errors']}</td></tr>")
    return (f"<table><tr><th>model @ prompt</th>{head}<th>tokens/trial</th><th>cost $</th>"
            f"<th>p50 ms</th><th>p95 ms</th><th>errors</th></tr>{''.join(rows)}</table>")


def _domains(report: RunReport) -> str:
    per: dict[str, dict[str, Any]] = report.metrics.get("domains", {})
    domains = sorted({d for v in per.values() for d in v})
    head = "".join(f"<th>{escape(c)}</th>" for c in per)
    rows = "".join(
        f"<tr><td>{escape(d)}</td>" + "".join(
            f"<td{_heat(per[c].get(d, {}).get('pass_hat_k'))}>"
            f"{_pct(per[c].get(d, {}).get('pass_hat_k'))}</td>" for c in per) + "</tr>"
        for d in domains)
    return f"<table><tr><th>domain</th>{head}</tr>{rows}</table>"


def _legend(names: Sequence[str]) -> str:
    return "<p class='legend'>" + "".join(
        f"<span><i class='sw' style='background:{PALETTE[i % len(PALETTE)]}'></i>"
        f"{escape(n)}</span>" for i, n in enumerate(names)) + "</p>"


def _bars(report: RunReport) -> str:
    """Horizontal bars: one group per domain, one bar per cell."""
    per: dict[str, dict[str, Any]] = report.metrics.get("domains", {})
    cells, domains = list(per), sorted({d for v in per.values() for d in v})
    bar, gap, label, width = 10, 8, 120, 420
    height = len(domains) * (len(cells) * bar + gap) + gap
    shapes = []
    for i, domain in enumerate(domains):
        top = gap + i * (len(cells) * bar + gap)
        shapes.append(f"<text x='0' y='{top + bar}' font-size='11'>{escape(domain)}</text>")
        for j, cell in enumerate(cells):
            value = float(per[cell].get(domain, {}).get("pass_hat_k") or 0)
            shapes.append(f"<rect x='{label}' y='{top + j * bar}' width='{value * width:.1f}' "
                          f"height='{bar - 2}' fill='{PALETTE[j % len(PALETTE)]}'>"
                          f"<title>{escape(cell)}: {_pct(value)}</title></rect>")
    return (_legend(cells) + f"<svg width='{label + width + 10}' height='{height}' "
            f"xmlns='http://www.w3.org/2000/svg'>{''.join(shapes)}</svg>")


def _curve(cells: Mapping[str, Any]) -> str:
    """pass^k for k = 1..n per cell: how fast reliability falls with repeated trials."""
    w, h, pad = 420, 180, 30
    longest = max((len(m.get("pass_hat", {})) for m in cells.values()), default=1)
    shapes = [f"<line x1='{pad}' y1='{h - pad}' x2='{w}' y2='{h - pad}' stroke='#999'/>",
              f"<line x1='{pad}' y1='0' x2='{pad}' y2='{h - pad}' stroke='#999'/>",
              "<text x='0' y='10' font-size='10'>100%</text>",
              f"<text x='0' y='{h - pad}' font-size='10'>0%</text>"]
    step = (w - pad - 10) / max(1, longest - 1)
    for i, m in enumerate(cells.values()):
        points = [(pad + (int(k) - 1) * step, (h - pad) * (1 - float(v)))
                  for k, v in m.get("pass_hat", {}).items()]
        color = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        shapes.append(f"<polyline points='{path}' fill='none' stroke='{color}' "
                      "stroke-width='2'/>")
        shapes += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3' fill='{color}'/>"
                   for x, y in points]
    ticks = "".join(f"<text x='{pad + k * step - 3:.1f}' y='{h - pad + 14}' font-size='10'>"
                    f"{k + 1}</text>" for k in range(longest))
    return (_legend(list(cells)) + f"<svg width='{w + 10}' height='{h}' "
            f"xmlns='http://www.w3.org/2000/svg'>{''.join(shapes)}{ticks}</svg>")


def _cases(trials: Sequence[TrialRecord]) -> str:
    grouped: dict[tuple[str, str], list[TrialRecord]] = defaultdict(list)
    for trial in sorted(trials, key=lambda t: (t.case_id, t.cell, t.trial)):
        grouped[(t := trial).case_id, t.cell].append(trial)
    out = []
    for (case_id, cell), mine in grouped.items():
        passes = sum(t.passed for t in mine)
        mark = "ok" if passes == len(mine) else "bad"
        out.append(f"<details class='case' data-passed='{'yes' if mark == 'ok' else 'no'}'>"
                   f"<summary><span class='{mark}'>{passes}/{len(mine)}</span> "
                   f"<b>{escape(case_id)}</b> <span class='muted'>{escape(mine[0].domain)} · "
                   f"{escape(cell)} · {escape(', '.join(mine[0].tags))}</span></summary>"
                   + "".join(_trial(t) for t in mine) + "</details>")
    return "\n".join(out)


def _trial(trial: TrialRecord) -> str:
    checks = "".join(f"<li class='{'ok' if c.passed else 'bad'}'>{'✓' if c.passed else '✗'} "
                     f"{escape(c.name)} <span class='muted'>{escape(c.detail)}</span></li>"
                     for c in trial.checks)
    said = "".join(f"<div class='said'><span class='role'>{escape(s.role)}</span>"
                   f"{escape(s.text)}</div>" for s in trial.transcript)
    calls = "".join(
        f"<li><b>{escape(u.name)}</b> <span class='muted'>{escape(u.status)}"
        f"{' · approval ' + escape(u.approval) if u.approval else ''}</span>"
        f"<pre>{escape(json.dumps(u.arguments, indent=1, default=str))}</pre>"
        + (f"<pre class='bad'>{escape(u.error)}</pre>" if u.error else "")
        + (f"<details><summary>result</summary><pre>"
           f"{escape(json.dumps(u.result, indent=1, default=str)[:4000])}</pre></details>"
           if u.result is not None else "") + "</li>" for u in trial.tool_uses)
    diff = (f"<pre>{escape(chr(10).join(trial.diff))}</pre>" if trial.diff
            else "<p class='muted'>no difference</p>" if trial.state_match else "")
    return (f"<details {'open' if not trial.passed else ''}><summary>trial {trial.trial} · "
            f"<span class='{'ok' if trial.passed else 'bad'}'>"
            f"{'passed' if trial.passed else 'failed'}</span> · {trial.tokens} tokens · "
            f"{trial.latency_ms} ms</summary><ul>{checks}</ul><h4>Transcript</h4>{said}"
            f"<h4>Tool calls</h4><ul>{calls or '<li class=muted>none</li>'}</ul>"
            f"<h4>Database diff</h4>{diff}"
            + (f"<pre class='bad'>{escape(trial.error)}</pre>" if trial.error else "")
            + "</details>")
