"""The CI gate: the whole dataset on the offline model, against the committed baseline.

Fails when a (model x prompt) cell's pass^k dropped by more than the threshold below the
baseline's (cases added since the baseline do not count; see `evals.report.compare`). After an
intended change of the offline model or the dataset, refresh the baseline with the command in
`BASELINE_COMMAND` and commit it with the change.
"""

from __future__ import annotations

from pathlib import Path

from assistant.settings import RuntimeSettings
from evals.cli import BASELINE, DATASETS
from evals.report import compare, read_json, write_json
from evals.runner import Harness, RunConfig
from evals.schema import load_cases
from store.bootstrap import DatabaseUrls

OFFLINE = "neptune-local/neptune"
THRESHOLD = 0.05
BASELINE_COMMAND = ("neptune eval run --model neptune-local/neptune --trials 1 --slim "
                    "--json evals/baseline.json")


async def test_the_offline_model_does_not_regress(db_urls: DatabaseUrls, tmp_path: Path) -> None:
    cases = load_cases([DATASETS])
    settings = RuntimeSettings(model=OFFLINE, fallback_models=(), prompt_version="v1")
    harness = Harness(db_urls, RunConfig(models=[OFFLINE], trials=1, concurrency=2,
                                         datasets=[str(DATASETS)]), settings=settings)
    report = await harness.run(cases)
    write_json(report, tmp_path / "new.json", slim=True)
    harness_errors = [f"{t.case_id}: {t.error}" for t in report.trials if t.error]
    assert harness_errors == [], "cases the harness could not score (fix the case)"
    result = compare(read_json(BASELINE), report, THRESHOLD)
    assert not result.failed, f"{result.render()}\n(refresh with: {BASELINE_COMMAND})"
