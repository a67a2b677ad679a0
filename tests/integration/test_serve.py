"""``sessionkeeper serve`` as a real process on 127.0.0.1: binding before the first key,
start-up and request logs, a separate metrics address, deadlines for slow clients, and the
container's entrypoint."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from sessionkeeper import __version__
from tests.integration.process import clean_env, free_port, serving, wait_for
from tests.support import create_pg_database, drop_pg_database

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]
ROOT = Path(__file__).resolve().parents[2]


def first_key(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("sk_"))


def test_a_taken_port_stops_serve_before_the_first_key(tmp_path: Path) -> None:
    database = tmp_path / "sk.db"
    env = clean_env(SESSIONKEEPER_DATABASE_URL=f"sqlite:///{database}")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "sessionkeeper", "serve", "--port", str(port)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )
    assert "sk_" not in result.stdout  # no key printed, so none lost
    if database.exists():
        with sqlite3.connect(database) as conn:
            assert conn.execute(
                "SELECT count(*) FROM sqlite_master WHERE name='tenants'"
            ).fetchone()[0] in (0, 1)
            tenants = (
                conn.execute("SELECT count(*) FROM tenants").fetchone()[0]
                if conn.execute(
                    "SELECT count(*) FROM sqlite_master WHERE name='tenants'"
                ).fetchone()[0]
                else 0
            )
            assert tenants == 0
    # The next start, on a free port, creates the tenant and shows its key once.
    with serving(tmp_path, env) as served:
        key = first_key(served.stdout.read_text())
        response = httpx.get(
            served.base_url + "/v1/sessions", headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 200


def test_json_logs_tell_the_start_each_request_and_each_5xx(tmp_path: Path) -> None:
    home = tmp_path / "data"
    home.mkdir()
    env = clean_env(
        SESSIONKEEPER_DATABASE_URL=f"sqlite:///{home / 'sk.db'}",
        SESSIONKEEPER_LOG_FORMAT="json",
        SESSIONKEEPER_SWEEP_INTERVAL_S="0.3",
        SESSIONKEEPER_KEY_CACHE_TTL_S="300",
    )
    with serving(tmp_path, env) as served:
        key = first_key(served.stdout.read_text())
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=served.base_url, headers=auth) as client:
            client.put("/v1/policies/blink", json={"heartbeat_interval_s": 1.0, "timeout_s": 1.0})
            client.post("/v1/sessions", json={"id": "short", "user_id": "u", "kind": "blink"})
            echoed = client.get("/v1/sessions/nope", headers={"X-Request-ID": "trace-42"})
            assert echoed.headers["x-request-id"] == "trace-42"
            assert echoed.json()["request_id"] == "trace-42"

            def lines() -> list[dict[str, object]]:
                return [json.loads(line) for line in served.stderr.read_text().splitlines()]

            wait_for(lambda: any(r.get("logger") == "sessionkeeper.sweep" for r in lines()))
    records = [json.loads(line) for line in served.stderr.read_text().splitlines()]
    messages = [r["message"] for r in records]
    startup = [r for r in records if r["logger"] == "sessionkeeper.startup"]
    assert startup[0]["version"] == __version__
    database = next(r for r in startup if "kind" in r)
    assert database["kind"] == "sqlite" and database["location"].endswith("sk.db")
    applied = next(r["applied"] for r in startup if "applied" in r)
    assert applied[0] == "0001" and applied[-1] == next(
        r["revision"] for r in startup if "revision" in r
    ), messages
    assert any(r.get("job") == "sweep" and r.get("interval_s") == 0.3 for r in startup)
    assert any(r.get("url") == served.base_url for r in startup)
    sweep = next(r for r in records if r["logger"] == "sessionkeeper.sweep")
    assert sweep["closed"] == 1
    traced = next(r for r in records if r.get("request_id") == "trace-42")
    assert traced["status"] == 404 and traced["path"] == "/v1/sessions/nope"
    assert all(isinstance(r["time"], str) and r["level"] for r in records)


def test_a_5xx_is_logged_with_its_request_id_and_no_password(
    tmp_path: Path, pg_database: str
) -> None:
    url = create_pg_database()  # its own: it is dropped under the running server
    try:
        with_password = url.replace("postgres@", "postgres:s3cret-pw@", 1)
        env = clean_env(
            SESSIONKEEPER_DATABASE_URL=with_password,
            SESSIONKEEPER_LOG_FORMAT="json",
            SESSIONKEEPER_KEY_CACHE_TTL_S="300",
        )
        with serving(tmp_path, env) as served:
            key = first_key(served.stdout.read_text())
            auth = {"Authorization": f"Bearer {key}"}
            assert httpx.get(served.base_url + "/v1/sessions", headers=auth).status_code == 200
            drop_pg_database(url)
            down = httpx.post(
                served.base_url + "/v1/sessions",
                json={"user_id": "u", "kind": "game"},
                headers=auth,
            )
            assert down.status_code == 503
            assert down.json()["request_id"] == down.headers["x-request-id"]
    finally:
        drop_pg_database(url)
    text = served.stderr.read_text()
    assert "s3cret-pw" not in text
    records = [json.loads(line) for line in text.splitlines()]
    database = next(r for r in records if r.get("kind") == "postgresql")
    assert database["location"].startswith("postgresql+psycopg://postgres:***@127.0.0.1")
    failed = next(r for r in records if r.get("status") == 503)
    assert failed["level"] == "error" and failed["request_id"] == down.headers["x-request-id"]


def test_an_unexpected_error_answers_500_and_says_the_connection_closes(tmp_path: Path) -> None:
    """After an error the app did not handle, the server drops the connection: the 500 says
    so (``Connection: close``), and the client's next request goes on a new one."""
    database = tmp_path / "sk.db"
    env = clean_env(SESSIONKEEPER_DATABASE_URL=f"sqlite:///{database}")
    with serving(tmp_path, env) as served:
        auth = {"Authorization": f"Bearer {first_key(served.stdout.read_text())}"}
        with httpx.Client(base_url=served.base_url, headers=auth) as client:
            body = {"id": "broken", "user_id": "u", "kind": "game"}
            assert client.post("/v1/sessions", json=body).status_code == 201
            # A row no code path writes: its attributes are not JSON.
            with sqlite3.connect(database) as conn:
                conn.execute("UPDATE sessions SET attributes = '{' WHERE id = 'broken'")
            failed = client.get("/v1/sessions/broken")
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/problem+json"
            assert failed.headers["connection"] == "close"
            assert failed.json()["request_id"] == failed.headers["x-request-id"]
            # The same client goes on, on a new connection.
            assert client.get("/v1/policies").status_code == 200


def test_metrics_on_an_address_of_their_own(tmp_path: Path) -> None:
    metrics_port = free_port()
    env = clean_env(
        SESSIONKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'sk.db'}",
        SESSIONKEEPER_METRICS_LISTEN=f"127.0.0.1:{metrics_port}",
    )
    with serving(tmp_path, env) as served:
        metrics = f"http://127.0.0.1:{metrics_port}"
        scraped = httpx.get(metrics + "/metrics")
        assert scraped.status_code == 200 and "sessionkeeper_sweep_duration_seconds" in scraped.text
        assert httpx.get(served.base_url + "/metrics").status_code == 404
        assert httpx.get(metrics + "/v1/sessions").status_code == 404
        assert httpx.get(metrics + "/docs").status_code == 404
        # Not even the heartbeat's express lane answers there.
        beat = httpx.post(metrics + "/v1/sessions/s-1/heartbeat", json={})
        assert beat.status_code == 404 and beat.json()["detail"] == "not served on this address"


def _closed_by_server(sock: socket.socket, wait_s: float = 30.0) -> bytes:
    """Everything the server sends until it closes the connection."""
    sock.settimeout(wait_s)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_slow_clients_are_cut_off_and_connections_bounded(tmp_path: Path) -> None:
    env = clean_env(
        SESSIONKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'sk.db'}",
        SESSIONKEEPER_REQUEST_HEADER_TIMEOUT_S="1",
        SESSIONKEEPER_REQUEST_BODY_TIMEOUT_S="1",
        SESSIONKEEPER_MAX_CONNECTIONS="20",
    )
    with serving(tmp_path, env) as served:
        key = first_key(served.stdout.read_text())
        port = int(served.base_url.rsplit(":", 1)[1])
        # Headers that never end (slowloris): answered 408 and closed.
        slow_headers = socket.create_connection(("127.0.0.1", port))
        slow_headers.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert _closed_by_server(slow_headers).startswith(b"HTTP/1.1 408 ")
        # A body that never completes: 408 too, and nothing is written.
        slow_body = socket.create_connection(("127.0.0.1", port))
        slow_body.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {key}\r\nContent-Length: 100\r\n\r\n".encode()
            + b'{"id": "half", '
        )
        answer = _closed_by_server(slow_body)
        assert answer.startswith(b"HTTP/1.1 408 ") and b"application/problem+json" in answer
        # A connection that sends nothing at all is closed as well.
        silent = socket.create_connection(("127.0.0.1", port))
        answer = _closed_by_server(silent)  # returns only once the server closed it
        assert answer == b"" or answer.startswith(b"HTTP/1.1 408 ")
        # Past the bound, new connections are closed at once; the server keeps serving.
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(30)]
        refused = 0
        for sock in held:
            sock.settimeout(0.5)
            try:
                if sock.recv(1) == b"":
                    refused += 1
            except TimeoutError:
                pass
        assert refused >= 10  # 20 allowed, the rest closed without waiting for a deadline
        for sock in held:
            sock.close()
        wait_for(lambda: httpx.get(served.base_url + "/healthz").status_code == 200)
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(served.base_url + "/v1/sessions/half", headers=auth).status_code == 404
        for sock in (slow_headers, slow_body, silent):
            sock.close()


def test_the_container_entrypoint_migrates_and_serves(tmp_path: Path) -> None:
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "sessionkeeper").exists():
        pytest.fail("the sessionkeeper command is not installed beside this Python")
    port = free_port()
    env = clean_env(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        SESSIONKEEPER_DATABASE_URL=f"sqlite:///{tmp_path / 'sk.db'}",
        SESSIONKEEPER_PORT=str(port),
        SESSIONKEEPER_LOG_FORMAT="json",
    )
    entrypoint = ROOT / "deploy" / "entrypoint.sh"
    made = subprocess.run(
        ["sh", str(entrypoint), "tenant", "create", "acme"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert made.returncode == 0 and "created tenant 'acme'" in made.stdout, made.stderr
    out = (tmp_path / "entry.out").open("wb")
    proc = subprocess.Popen(
        ["sh", str(entrypoint)], env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT
    )
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), timeout=60)
        assert proc.poll() is None
        proc.terminate()  # the shell exec'd the server: it gets the signal itself
        # Uvicorn shuts down in order, then ends by the signal it was sent.
        assert proc.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if proc.poll() is None:
            proc.kill()
        out.close()
    log = (tmp_path / "entry.out").read_text()
    assert "database is up to date" in log or "applied" in log
    assert '"logger": "sessionkeeper.startup"' in log
    assert "Application shutdown complete" in log


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_make_serve_takes_port_and_host_and_installs_the_runtime_only(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-n",
            "serve",
            f"VENV={tmp_path / 'venv'}",
            "PORT=9123",
            "HOST=0.0.0.0",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    plan = result.stdout
    assert f"{tmp_path / 'venv'}/bin/sessionkeeper serve --host 0.0.0.0 --port 9123" in plan
    installs = [line for line in plan.splitlines() if "pip install" in line and "-e" in line]
    assert installs and all(".[dev]" not in line for line in installs), plan
    default = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve", f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert default.stdout.strip().endswith("sessionkeeper serve")


def test_the_package_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    # A copy of the sources: setuptools writes build/ beside what it builds.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "always::DeprecationWarning"},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Deprecat" not in output, [line for line in output.splitlines() if "Deprecat" in line]
    wheel = next(tmp_path.glob("sessionkeeper-*.whl"))
    listing = subprocess.run(
        [sys.executable, "-m", "zipfile", "-l", str(wheel)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for shipped in ("swagger-ui-bundle.js", "ops_0001_operator_keys_and_sweep_by_tenant.py"):
        assert shipped in listing
