"""The CLI as an operator and a script use it, run as real processes: settings errors, list
formats, --version, help, migrate --check, backup and operator keys."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionkeeper import __version__
from sessionkeeper.cli import app as cli_app
from tests.integration.process import clean_env, run_cli
from tests.support import running_app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(SESSIONKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'sk.db'}")


@pytest.mark.parametrize(
    ("settings", "named", "accepted"),
    [
        ({"SESSIONKEEPER_PORT": "eighty"}, "SESSIONKEEPER_PORT", "integer"),
        ({"SESSIONKEEPER_LOG_FORMAT": "xml"}, "SESSIONKEEPER_LOG_FORMAT", "'text' or 'json'"),
        (
            {"SESSIONKEEPER_SQLITE_SYNCHRONOUS": "fast"},
            "SESSIONKEEPER_SQLITE_SYNCHRONOUS",
            "'FULL'",
        ),
        (
            {"SESSIONKEEPER_SWEEP_INTERVAL_S": "0"},
            "SESSIONKEEPER_SWEEP_INTERVAL_S",
            "greater than 0",
        ),
        (
            {"SESSIONKEEPER_DATABASE_URL": "mysql://root:hunter2@db/sk"},
            "SESSIONKEEPER_DATABASE_URL",
            "sqlite:///path/to/file.db, postgresql://",
        ),
        ({"SESSIONKEEPER_OPERATOR_KEY": "short"}, "SESSIONKEEPER_OPERATOR_KEY", "at least 32"),
        ({"SESSIONKEEPER_METRICS_LISTEN": "nowhere"}, "SESSIONKEEPER_METRICS_LISTEN", "host:port"),
    ],
)
def test_a_bad_setting_is_one_line_naming_the_variable(
    tmp_path: Path, env: dict[str, str], settings: dict[str, str], named: str, accepted: str
) -> None:
    result = run_cli("migrate", env={**env, **settings}, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {named}: ") and accepted in lines[0], lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr and "short" not in result.stderr  # secrets not echoed


def test_two_bad_settings_are_two_lines(tmp_path: Path, env: dict[str, str]) -> None:
    bad = {"SESSIONKEEPER_PORT": "x", "SESSIONKEEPER_LOG_LEVEL": "loud"}
    result = run_cli("migrate", env={**env, **bad}, cwd=tmp_path)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 2


def test_words_are_taken_in_any_case(tmp_path: Path, env: dict[str, str]) -> None:
    words = {
        "SESSIONKEEPER_LOG_FORMAT": "JSON",
        "SESSIONKEEPER_LOG_LEVEL": "Warning",
        "SESSIONKEEPER_SQLITE_SYNCHRONOUS": "normal",
    }
    result = run_cli("migrate", env={**env, **words}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


def test_version_and_help_texts(tmp_path: Path, env: dict[str, str]) -> None:
    assert (
        run_cli("--version", env=env, cwd=tmp_path).stdout.strip() == f"sessionkeeper {__version__}"
    )
    commands = [
        [],
        ["serve"],
        ["migrate"],
        ["backup"],
        ["sweep"],
        ["tenant"],
        ["tenant", "create"],
        ["tenant", "list"],
        ["key"],
        ["key", "create"],
        ["key", "list"],
        ["key", "revoke"],
        ["sessions"],
        ["sessions", "list"],
    ]
    runner = CliRunner()
    for command in commands:
        # In process, for speed: the help a process prints is the same text.
        result = runner.invoke(cli_app, [*command, "--help"], env=env, terminal_width=100)
        assert result.exit_code == 0, (command, result.output)
        text = result.stdout
        for artefact in ("``", "[bold]", "[/", "<bool>", "\\b", "╭", "…)"):
            assert artefact not in text, (command, artefact, text)


def test_migrate_check_reports_pending_migrations(tmp_path: Path, env: dict[str, str]) -> None:
    pending = run_cli("migrate", "--check", env=env, cwd=tmp_path)
    assert pending.returncode == 1
    assert pending.stdout.startswith("pending migrations: 0001, 0002")
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    done = run_cli("migrate", "--check", env=env, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "database is up to date"


async def test_lists_for_scripts(tmp_path: Path, env: dict[str, str]) -> None:
    url = env["SESSIONKEEPER_DATABASE_URL"]
    long_label = "a label far longer than any terminal is wide " * 4
    async with running_app(url) as api:
        for i in range(1_205):
            body = {"id": f"s{i:05d}", "user_id": f"u{i % 7}", "kind": "game", "label": long_label}
            assert (await api.post("/v1/sessions", body)).status_code == 201
            api.advance(1)
        outcome = {"metrics": {"score": 7.5}}
        assert (await api.put("/v1/sessions/s01204/outcome", outcome)).status_code == 200

    as_json = json.loads(
        run_cli("sessions", "list", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    assert len(as_json) == 50  # the default limit
    assert as_json[0]["id"] == "s01204" and as_json[0]["label"] == long_label
    assert set(as_json[0]) >= {"attributes", "expires_at", "last_seen_at", "estimated"}
    # The features' fields too, as the API answers them.
    assert as_json[0]["outcome"]["metrics"] == {"score": 7.5}
    assert as_json[1]["outcome"] is None

    limited = run_cli("sessions", "list", "--limit", "3", "--format", "csv", env=env, cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(limited.stdout)))
    assert [r["id"] for r in rows] == ["s01204", "s01203", "s01202"]
    assert rows[0]["attributes"] == "{}" and rows[0]["label"] == long_label
    assert json.loads(rows[0]["outcome"])["metrics"] == {"score": 7.5}
    assert rows[1]["outcome"] == ""

    every = run_cli("sessions", "list", "--all", "--format", "csv", env=env, cwd=tmp_path)
    ids = [r["id"] for r in csv.DictReader(io.StringIO(every.stdout))]
    assert len(ids) == 1_205 and len(set(ids)) == 1_205  # followed the cursors, no duplicate

    table = run_cli("sessions", "list", "--limit", "2", env=env, cwd=tmp_path).stdout
    assert long_label.strip() in table  # not on a terminal: nothing shortened
    assert "…" not in table

    both = run_cli("sessions", "list", "--all", "--limit", "5", env=env, cwd=tmp_path)
    assert both.returncode == 0  # --all wins: every row
    assert both.stdout.count("s0") == 1_205


def test_tenant_and_key_lists_for_scripts(tmp_path: Path, env: dict[str, str]) -> None:
    for name in ("acme", "globex", "initech"):
        assert run_cli("tenant", "create", name, env=env, cwd=tmp_path).returncode == 0
    made = run_cli("key", "create", "--tenant", "globex", "--scope", "read", env=env, cwd=tmp_path)
    key = made.stdout.strip().splitlines()[-1]
    operator = run_cli("key", "create", "--operator", env=env, cwd=tmp_path)
    assert operator.returncode == 0 and operator.stdout.strip().startswith("sk_")
    neither = run_cli("key", "create", env=env, cwd=tmp_path)
    assert neither.returncode == 2 and "--tenant" in neither.stderr

    tenants = json.loads(
        run_cli("tenant", "list", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    assert [t["name"] for t in tenants] == ["acme", "globex", "initech"]
    two = run_cli("tenant", "list", "--limit", "2", "--format", "csv", env=env, cwd=tmp_path)
    assert two.stdout.splitlines() == [
        "id,name,created_at",
        *[f"{t['id']},{t['name']},{t['created_at']}" for t in tenants[:2]],
    ]
    keys = json.loads(
        run_cli("key", "list", "--all", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    assert [(k["tenant"], k["scope"]) for k in keys] == [("globex", "read"), (None, "operator")]
    assert keys[0]["prefix"] == key[:10] and key not in json.dumps(keys)
    only = json.loads(
        run_cli("key", "list", "--tenant", "acme", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    assert only == []


async def test_backup_copies_a_live_database(tmp_path: Path, env: dict[str, str]) -> None:
    url = env["SESSIONKEEPER_DATABASE_URL"]
    target = tmp_path / "backups" / "copy.db"
    target.parent.mkdir()
    async with running_app(url) as api:
        await api.post("/v1/sessions", {"id": "before", "user_id": "u", "kind": "game"})
        result = run_cli("backup", str(target), env=env, cwd=tmp_path)  # the server runs on
        assert result.returncode == 0, result.stderr
        await api.post("/v1/sessions", {"id": "after", "user_id": "u", "kind": "game"})
    with sqlite3.connect(target) as copy:
        ids = [row[0] for row in copy.execute("SELECT id FROM sessions")]
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert ids == ["before"]
    copied = clean_env(SESSIONKEEPER_DATABASE_URL=f"sqlite:///{target}")
    listed = run_cli("sessions", "list", "--format", "json", env=copied, cwd=tmp_path)
    assert [s["id"] for s in json.loads(listed.stdout)] == ["before"]
    again = run_cli("backup", str(target), env=env, cwd=tmp_path)
    assert again.returncode == 2 and "exists already" in again.stderr


def test_backup_of_postgresql_points_to_pg_dump(tmp_path: Path, pg_url: str) -> None:
    env = clean_env(SESSIONKEEPER_DATABASE_URL=pg_url)
    result = run_cli("backup", str(tmp_path / "x.db"), env=env, cwd=tmp_path)
    assert result.returncode == 2 and "pg_dump" in result.stderr
