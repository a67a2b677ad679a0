"""What the CLI does with options and settings it cannot use, run as real processes: one
``error:`` line on stderr and exit 2, before anything is made or written, never a secret's
value."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sessionkeeper.cli import app as cli_app
from tests.integration.process import clean_env, run_cli

# 31 characters: one short of what a secret setting needs, and looks like a real one.
SHORT_SECRET = "my-real-dashboard-secret-31char"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return clean_env(SESSIONKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'sk.db'}")


def assert_refused(result: subprocess.CompletedProcess[str], starts: str) -> str:
    """The one line of a refusal, which must begin ``error: {starts}``."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {starts}"), lines[0]
    return lines[0]


def listed(what: str, env: dict[str, str], cwd: Path) -> list[dict[str, object]]:
    result = run_cli(what, "list", "--format", "json", env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


@pytest.mark.parametrize("port", ["99999", "65536", "-1"])
def test_serve_refuses_a_port_out_of_range(tmp_path: Path, env: dict[str, str], port: str) -> None:
    # Without the check the system takes the port modulo 65536 and serves on, so a bounded
    # wait is what fails.
    result = run_cli("serve", "--port", port, env=env, cwd=tmp_path, timeout=30)
    line = assert_refused(result, "--port: ")
    assert "65535" in line and port in line
    assert "sk_" not in result.stdout  # no first-start key printed
    assert listed("tenant", env, tmp_path) == []  # nor its tenant made


@pytest.mark.parametrize("command", [["tenant", "list"], ["serve", "--port", "0"]])
@pytest.mark.parametrize(
    "url",
    [
        "bogus://:hunter2hunter2@h",
        "http://h:6379",
        "redis://:hunter2hunter2@h:port",
        "redis://:hunter2hunter2@h:6379/0?max_connections=-1",  # refused by the pool, not the URL
    ],
)
def test_an_unusable_redis_url_is_one_line(
    tmp_path: Path, env: dict[str, str], command: list[str], url: str
) -> None:
    settings = {**env, "SESSIONKEEPER_REDIS_URL": url}
    result = run_cli(*command, env=settings, cwd=tmp_path, timeout=30)
    line = assert_refused(result, "SESSIONKEEPER_REDIS_URL: ")
    assert "redis://" in line and "rediss://" in line and "unix://" in line
    assert "hunter2" not in result.stderr + result.stdout  # it may hold a password


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "rediss://h", "unix:///r.sock", ""])
def test_a_usable_redis_url_is_taken(tmp_path: Path, env: dict[str, str], url: str) -> None:
    # Listing tenants needs no connection to Redis: only the URL's form is checked.
    result = run_cli("tenant", "list", env={**env, "SESSIONKEEPER_REDIS_URL": url}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "SESSIONKEEPER_DASHBOARD_SECRET",
        "SESSIONKEEPER_OPERATOR_KEY",
        "SESSIONKEEPER_METRICS_TOKEN",
    ],
)
def test_a_short_secret_is_refused_without_its_value(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    result = run_cli("tenant", "list", env={**env, name: SHORT_SECRET}, cwd=tmp_path)
    assert "at least 32" in assert_refused(result, f"{name}: ")
    assert SHORT_SECRET not in result.stderr + result.stdout


@pytest.mark.parametrize("scope", ["ingest", "read", "admin"])
def test_an_operator_key_takes_no_scope(tmp_path: Path, env: dict[str, str], scope: str) -> None:
    result = run_cli("key", "create", "--operator", "--scope", scope, env=env, cwd=tmp_path)
    assert_refused(result, "--scope: ")
    assert "sk_" not in result.stdout
    assert listed("key", env, tmp_path) == []  # nothing made


def test_operator_and_tenant_together_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    both = ("key", "create", "--operator", "--tenant", "acme")
    assert "--tenant" in assert_refused(run_cli(*both, env=env, cwd=tmp_path), "")


def test_a_tenant_key_is_an_ingest_key_unless_told(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("tenant", "create", "acme", env=env, cwd=tmp_path).returncode == 0
    made = run_cli("key", "create", "--tenant", "acme", env=env, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert [key["scope"] for key in listed("key", env, tmp_path)] == ["ingest"]


def test_key_scopes_offered_are_the_ones_taken(tmp_path: Path, env: dict[str, str]) -> None:
    help_text = CliRunner().invoke(cli_app, ["key", "create", "--help"], env=env).stdout
    assert "<ingest|read|admin>" in help_text
    assert "publish|" not in help_text and "|publish" not in help_text
    assert "POST /v1/publishable-keys" in help_text  # where a publishable key is made
    assert run_cli("tenant", "create", "acme", env=env, cwd=tmp_path).returncode == 0
    publish = ("key", "create", "--tenant", "acme", "--scope", "publish")
    assert "/v1/publishable-keys" in assert_refused(run_cli(*publish, env=env, cwd=tmp_path), "")
    other = run_cli("key", "create", "--tenant", "acme", "--scope", "owner", env=env, cwd=tmp_path)
    line = assert_refused(other, "--scope: ")
    assert "ingest, read, admin" in line and "publish" not in line
    assert listed("key", env, tmp_path) == []


def test_export_to_an_unwritable_file_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("tenant", "create", "default", env=env, cwd=tmp_path).returncode == 0
    target = tmp_path / "missing" / "x.csv"
    result = run_cli("sessions", "export", "--out", str(target), env=env, cwd=tmp_path)
    assert str(target) in assert_refused(result, "--out: ")


def test_export_replaces_an_existing_file(tmp_path: Path, env: dict[str, str]) -> None:
    """As ``>`` would: a scheduled export writes the same file every day."""
    assert run_cli("tenant", "create", "default", env=env, cwd=tmp_path).returncode == 0
    target = tmp_path / "sessions.csv"
    target.write_text("an earlier export\n")
    result = run_cli("sessions", "export", "--out", str(target), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert target.read_text().startswith("id,user_id,kind,")


def test_export_writes_a_new_file_or_stdout(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("tenant", "create", "default", env=env, cwd=tmp_path).returncode == 0
    target = tmp_path / "new.csv"
    written = run_cli("sessions", "export", "--out", str(target), env=env, cwd=tmp_path)
    assert written.returncode == 0, written.stderr
    header = target.read_text()
    assert header.startswith("id,user_id,kind,")
    for out in ([], ["--out", "-"]):
        printed = run_cli("sessions", "export", *out, env=env, cwd=tmp_path)
        assert printed.returncode == 0 and printed.stdout == header


def test_a_refused_export_leaves_no_file(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("tenant", "create", "default", env=env, cwd=tmp_path).returncode == 0
    target = tmp_path / "never.csv"
    bad = ("sessions", "export", "--where", "no-equals-sign", "--out", str(target))
    assert_refused(run_cli(*bad, env=env, cwd=tmp_path), "--where: ")
    assert not target.exists()


def test_a_where_without_equals_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    result = run_cli("sessions", "list", "--where", "kind", env=env, cwd=tmp_path)
    assert "NAME=VALUE" in assert_refused(result, "--where: ")


@pytest.mark.parametrize("command", [["tenant", "list"], ["serve", "--port", "0"]])
def test_a_database_url_with_a_port_that_is_no_number_is_one_line(
    tmp_path: Path, env: dict[str, str], command: list[str]
) -> None:
    settings = {**env, "SESSIONKEEPER_DATABASE_URL": "postgresql://u:hunter2hunter2@h:port/db"}
    result = run_cli(*command, env=settings, cwd=tmp_path, timeout=30)
    assert_refused(result, "SESSIONKEEPER_DATABASE_URL: ")
    assert "hunter2" not in result.stderr + result.stdout


def test_an_export_the_disk_cannot_hold_is_one_line(tmp_path: Path, env: dict[str, str]) -> None:
    assert run_cli("tenant", "create", "default", env=env, cwd=tmp_path).returncode == 0
    result = run_cli("sessions", "export", "--out", "/dev/full", env=env, cwd=tmp_path)
    assert "No space left" in assert_refused(result, "--out: ")
