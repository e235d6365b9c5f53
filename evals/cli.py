"""`neptune eval run|compare` (assistant.cli hands `eval ...` over to this module).

    neptune eval run [--dataset PATH ...] [--model A --model B] [--prompt-version X ...]
                     [--trials K] [--concurrency N] [--json out.json] [--html out.html]
    neptune eval compare base.json new.json [--threshold 0.05]

`run` exits 0 when every trial was scored (passing or not) and 1 when the harness itself
failed on some trial or a case could not be loaded; `compare` exits 1 when a cell's pass^k
dropped by more than the threshold (or a cell of the base run is missing).
"""

from __future__ import annotations

import argparse
import asyncio
import fnmatch
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from evals.records import TrialRecord
from evals.schema import Case, load_cases

if TYPE_CHECKING:
    from store.bootstrap import DatabaseUrls

DATASETS = Path(__file__).parent / "datasets"
BASELINE = Path(__file__).parent / "baseline.json"
DEFAULT_CACHE = Path.home() / ".cache" / "neptune" / "evals"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neptune eval", description="Neptune's eval harness")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run cases over models x prompt versions")
    run.add_argument("--dataset", action="append", type=Path,
                     help=f"a YAML file or a directory of them (default {DATASETS})")
    run.add_argument("--model", action="append",
                     help="model alias or LiteLLM name; repeat for a matrix "
                          "(default: NEPTUNE_MODEL)")
    run.add_argument("--prompt-version", action="append", dest="prompt_versions",
                     help="prompt version; repeat for a matrix "
                          "(default: NEPTUNE_PROMPT_VERSION)")
    run.add_argument("--trials", type=_positive, default=1, help="trials per case (k of pass^k)")
    run.add_argument("--concurrency", type=_positive, default=2, help="trials at once (2)")
    run.add_argument("--case", action="append", dest="cases",
                     help="only case ids matching this glob (repeatable)")
    run.add_argument("--tag", action="append", dest="tags", help="only cases with this tag")
    run.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                     help=f"model response cache (default {DEFAULT_CACHE})")
    run.add_argument("--no-cache", action="store_true", help="always ask the model")
    run.add_argument("--judge-model", help="model that grades `rubric` answers")
    run.add_argument("--user-model", help="model playing simulated users (default: the model)")
    run.add_argument("--json", type=Path, help="write the JSON report here")
    run.add_argument("--slim", action="store_true",
                     help="JSON without transcripts, tool calls and diffs (for a baseline)")
    run.add_argument("--html", type=Path, help="write the HTML report here")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    compare = commands.add_parser("compare", help="regressions between two JSON reports")
    compare.add_argument("base", type=Path)
    compare.add_argument("new", type=Path)
    compare.add_argument("--threshold", type=float, default=0.05,
                         help="allowed drop of a cell's pass^k, as a fraction (0.05)")
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _shown(path: Path) -> str:
    """A dataset path as the report shows it: relative to the project when inside it."""
    for root in (Path.cwd(), DATASETS.parent.parent):
        if path.resolve().is_relative_to(root.resolve()):
            return str(path.resolve().relative_to(root.resolve()))
    return str(path)


def select(cases: list[Case], patterns: list[str] | None, tags: list[str] | None) -> list[Case]:
    return [c for c in cases
            if (not patterns or any(fnmatch.fnmatch(c.id, p) for p in patterns))
            and (not tags or set(tags) & set(c.tags))]


class ProgressBar:
    """One line on stderr, redrawn after each trial."""

    def __init__(self, total: int, *, enabled: bool, redraw: bool) -> None:
        self.total, self.enabled, self.redraw = total, enabled, redraw
        self.done = self.failed = 0
        self.started = time.perf_counter()

    def __call__(self, record: TrialRecord) -> None:
        self.done += 1
        self.failed += not record.passed
        tenth = max(1, self.total // 10)
        if not self.enabled or not (self.redraw or self.done % tenth == 0
                                    or self.done == self.total):
            return
        filled = int(30 * self.done / max(1, self.total))
        elapsed = time.perf_counter() - self.started
        line = (f"[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total} trials, "
                f"{self.failed} failed, {elapsed:.0f}s")
        # A terminal redraws one line; a log (CI) gets a line every tenth of the run.
        end = "\n" if not self.redraw or self.done == self.total else ""
        sys.stderr.write(("\r" if self.redraw else "") + line + end)
        sys.stderr.flush()


async def cmd_run(args: argparse.Namespace) -> int:
    from store.bootstrap import prepare
    from store.config import StoreSettings

    return await run(args, await prepare(StoreSettings.from_env()))


async def run(args: argparse.Namespace, urls: DatabaseUrls) -> int:
    """`eval run` on the database server that holds `urls`."""
    import prompts
    from assistant.settings import RuntimeSettings
    from evals import html, report
    from evals.runner import Harness, RunConfig

    datasets = args.dataset or [DATASETS]
    cases = select(load_cases(datasets), args.cases, args.tags)
    if not cases:
        print("neptune eval: no case matches", file=sys.stderr)
        return 1
    settings = RuntimeSettings()
    unknown = set(args.prompt_versions or []) - set(prompts.versions())
    if unknown:
        print(f"neptune eval: no prompt version {', '.join(sorted(unknown))} (there are "
              f"{', '.join(prompts.versions())})", file=sys.stderr)
        return 2
    config = RunConfig(
        models=args.model or [settings.model],
        prompt_versions=args.prompt_versions or [settings.prompt_version],
        trials=args.trials, concurrency=args.concurrency,
        cache_dir=None if args.no_cache else args.cache_dir, judge_model=args.judge_model,
        user_model=args.user_model, datasets=[_shown(d) for d in datasets])
    total = len(cases) * len(config.models) * len(config.prompt_versions) * config.trials
    bar = ProgressBar(total, enabled=not args.quiet, redraw=sys.stderr.isatty())
    harness = Harness(urls, config, settings=settings, progress=bar)
    result = await harness.run(cases)
    print(report.terminal(result))
    if args.json:
        report.write_json(result, args.json, slim=args.slim)
        print(f"JSON report: {args.json}")
    if args.html:
        args.html.parent.mkdir(parents=True, exist_ok=True)
        args.html.write_text(html.render(result), encoding="utf-8")
        print(f"HTML report: {args.html}")
    return 1 if any(t.error for t in result.trials) else 0


def cmd_compare(args: argparse.Namespace) -> int:
    from evals import report

    comparison = report.compare(report.read_json(args.base), report.read_json(args.new),
                                args.threshold)
    print(comparison.render())
    return 1 if comparison.failed else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "compare":
            return cmd_compare(args)
        return asyncio.run(cmd_run(args))
    except (OSError, ValueError) as error:  # a missing file, a case that does not validate
        print(f"neptune eval: {error}", file=sys.stderr)
        return 2
