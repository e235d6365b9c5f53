"""`neptune eval run` end to end on the test database with the scripted model: a dataset file,
a case filter, the terminal table, the JSON and HTML reports, and the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.cli import build_parser, run
from store.bootstrap import DatabaseUrls
from tests.evals.support import SCRIPTED, after_tool, said_last
from tests.model_server import Call, ModelServer, Text, ToolCalls

DATASET = """
- id: tasks.cli-create
  domain: tasks
  turns: ["Create a task \\"File the CLI report\\""]
  expect:
    tool_calls: [{name: create_task, args: {title: File the CLI report}}]
    state:
      gold: [{tool: create_task, args: {title: File the CLI report}}]
- id: tasks.cli-broken-gold
  domain: tasks
  turns: ["Create a task \\"File the CLI report\\""]
  expect:
    state:
      gold: [{tool: no_such_tool}]
- id: crm.cli-skipped
  domain: crm
  turns: ["Not selected by --case"]
"""


@pytest.fixture
def scripted_env(model_server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> ModelServer:
    aliases = {SCRIPTED: {"model": "openai/scripted-model", "api_base": model_server.base_url,
                          "api_key_env": "NEPTUNE_EVAL_TEST_KEY"}}
    monkeypatch.setenv("NEPTUNE_MODEL_ALIASES", json.dumps(aliases))
    monkeypatch.setenv("NEPTUNE_MODEL_RETRIES", "0")
    monkeypatch.setenv("NEPTUNE_EVAL_TEST_KEY", "sk-eval-test")
    return model_server


async def test_eval_run_writes_the_reports(db_urls: DatabaseUrls, scripted_env: ModelServer,
                                           tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    text = 'Create a task "File the CLI report"'
    scripted_env.rule(said_last(text), ToolCalls([Call("create_task",
                                                       {"title": "File the CLI report"})]))
    scripted_env.rule(after_tool(text), Text("Filed."))
    (tmp_path / "cases.yaml").write_text(DATASET, encoding="utf-8")
    args = build_parser().parse_args([
        "run", "--dataset", str(tmp_path / "cases.yaml"), "--model", SCRIPTED,
        "--case", "tasks.*", "--trials", "2", "--no-cache", "--quiet",
        "--json", str(tmp_path / "run.json"), "--html", str(tmp_path / "run.html")])
    assert await run(args, db_urls) == 1  # the broken gold is the harness's error, not a pass
    out = capsys.readouterr().out
    assert "2 cases x 1 cells x 2 trials" in out
    assert "tasks.cli-broken-gold [scripted @ v1 #0] gold: gold action 0: no tool" in out
    report = json.loads((tmp_path / "run.json").read_text())
    cell = report["metrics"]["cells"]["scripted @ v1"]
    assert (cell["cases"], cell["trials"], cell["pass_hat_k"]) == (2, 4, 0.5)
    assert report["metrics"]["cases"]["scripted @ v1"]["tasks.cli-create"]["passes"] == 2
    assert {t["case_id"] for t in report["trials"]} == {"tasks.cli-create",
                                                        "tasks.cli-broken-gold"}
    page = (tmp_path / "run.html").read_text()
    assert "tasks.cli-create" in page and "File the CLI report" in page


async def test_eval_run_with_no_matching_case(db_urls: DatabaseUrls, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cases.yaml").write_text(DATASET, encoding="utf-8")
    args = build_parser().parse_args(["run", "--dataset", str(tmp_path / "cases.yaml"),
                                      "--case", "nothing.*"])
    assert await run(args, db_urls) == 1
    assert "no case matches" in capsys.readouterr().err


async def test_eval_run_refuses_an_unknown_prompt_version(
        db_urls: DatabaseUrls, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "cases.yaml").write_text(DATASET, encoding="utf-8")
    args = build_parser().parse_args(["run", "--dataset", str(tmp_path / "cases.yaml"),
                                      "--prompt-version", "v99"])
    assert await run(args, db_urls) == 2
    assert "no prompt version v99 (there are v1" in capsys.readouterr().err


def test_the_progress_bar_logs_every_tenth_when_not_on_a_terminal(
        capsys: pytest.CaptureFixture[str]) -> None:
    from evals.cli import ProgressBar
    from evals.records import TrialRecord

    bar = ProgressBar(20, enabled=True, redraw=False)
    for n in range(20):
        bar(TrialRecord(case_id="c", domain="crm", model="m", prompt_version="v1", trial=n,
                        passed=n % 4 != 0))
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 10 and lines[0].startswith("[###......")
    assert "20/20 trials, 5 failed" in lines[-1]
