"""The `neptune` command on bad configuration: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

from store.migrations import alembic_config


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    return subprocess.run(
        [sys.executable, "-m", "assistant.cli", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "url, expected",
    [
        ("not a url", "NEPTUNE_DATABASE_URL is malformed"),
        ("mysql://u:p@localhost/db", "is not a PostgreSQL URL"),
        ("postgresql://u:p@localhost:99999/db", "invalid port"),
        ("postgresql://u:p@127.0.0.1:1/neptune", "cannot reach PostgreSQL at 127.0.0.1:1"),
    ],
)
def test_bad_database_url(url: str, expected: str, tmp_path: Path) -> None:
    result = run_cli(
        "db", "status", env={"NEPTUNE_DATABASE_URL": url, "NEPTUNE_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_unwritable_data_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("db", "status", env={"NEPTUNE_DATA_DIR": str(blocker / "data")})
    assert result.returncode == 2
    assert "is not writable" in result.stderr and "NEPTUNE_DATA_DIR" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_master_key_refuses_to_start(tmp_path: Path) -> None:
    result = run_cli("run", env={"NEPTUNE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert "NEPTUNE_MASTER_KEYS is not set" in result.stderr
    assert "neptune keys generate" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "pgdata").exists()  # refused before touching anything


def test_keys_generate_prints_a_usable_entry(tmp_path: Path) -> None:
    result = run_cli("keys", "generate", env={})
    assert result.returncode == 0
    kid, _, key = result.stdout.strip().partition(":")
    assert kid and len(key) == 44


def test_two_processes_starting_at_once_share_one_server(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    env["NEPTUNE_DATA_DIR"] = str(tmp_path)
    command = [sys.executable, "-m", "assistant.cli", "db", "upgrade"]
    procs = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert all(f"database revision: {head}" in out for out, _ in outputs)
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()


def test_worker_refuses_a_bad_concurrency_before_starting(tmp_path: Path) -> None:
    result = run_cli("worker", "--concurrency", "0", env={"NEPTUNE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2 and "must be at least 1" in result.stderr
    assert not (tmp_path / "pgdata").exists()


def test_token_and_access_keys_for_the_demo(tmp_path: Path) -> None:
    import jwt

    from store.demo import DEMO_WORKSPACES, demo_user_id

    env = {"NEPTUNE_DATA_DIR": str(tmp_path), "NEPTUNE_DEV_MODE": "1"}
    assert run_cli("demo", env=env).returncode == 0
    issued = run_cli("token", "--workspace", "acme-demo", "--user", "lee@acme.example", env=env)
    assert issued.returncode == 0, issued.stderr
    secret = (tmp_path / "dev-api-secret").read_text().strip()
    claims = jwt.decode(issued.stdout.strip(), secret, algorithms=["HS256"])
    spec = DEMO_WORKSPACES[0]
    assert claims["sub"] == str(demo_user_id(spec.slug, "Lee"))
    assert claims["workspace"] == str(spec.workspace_id)
    assert "(member)" in issued.stderr

    created = run_cli("access-key", "create", "--workspace", "acme-demo", "--name", "ci",
                      "--scope", "read", "--scope", "chat", env=env)
    assert created.returncode == 0 and created.stdout.startswith("nep_")
    listed = run_cli("access-key", "list", "--workspace", "acme-demo", env=env).stdout
    assert "'ci'" in listed and "chat,read" in listed and created.stdout.strip() not in listed
    key_id = listed.split()[0]
    assert run_cli("access-key", "revoke", "--workspace", "acme-demo", key_id,
                   env=env).returncode == 0
    assert "revoked" in run_cli("access-key", "list", "--workspace", "acme-demo", env=env).stdout

    unknown = run_cli("token", "--workspace", "nope", env=env)
    assert unknown.returncode == 2 and "no active workspace 'nope'" in unknown.stderr
    stranger = run_cli("token", "--workspace", "acme-demo", "--user", "x@y.z", env=env)
    assert stranger.returncode == 2 and "not an active member" in stranger.stderr
