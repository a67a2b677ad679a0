"""Start the server in a subprocess on 127.0.0.1, wait until it answers, always stop it."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def peak_rss_bytes(self) -> int | None:
        """The kernel's high-water mark of the process's RSS (Linux ``VmHWM``)."""
        try:
            status = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return None
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
        return None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(f"server exited at start:\n{server.log_tail()}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"server did not answer within {START_TIMEOUT_S:.0f} s")


def _command(server: str, port: int, workers: int) -> list[str]:
    if server == "granian":
        return [
            *(sys.executable, "-m", "granian", "--interface", "asgi", "--factory"),
            *("--host", "127.0.0.1", "--port", str(port), "--workers", "1"),
            *("--loop", "uvloop", "--no-ws", "--log-level", "warning"),
            "bench.launcher:granian_app",
        ]
    return [sys.executable, "-m", "bench.launcher", "--port", str(port), "--workers", str(workers)]


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)  # uvicorn shuts down gracefully, closing the writer
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def running_server(
    database_url: str, *, server: str = "uvicorn", workers: int = 1, **settings: str
) -> Iterator[Server]:
    """``bench.launcher`` on a free port of 127.0.0.1 against ``database_url``: under uvicorn
    (as ``sessionkeeper serve`` runs it, with ``workers`` processes), or under granian (one
    worker, uvloop) to compare."""
    env = dict(os.environ)
    env.update(
        {
            "SESSIONKEEPER_DATABASE_URL": database_url,
            "SESSIONKEEPER_LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        }
    )
    env.update({f"SESSIONKEEPER_{k.upper()}": v for k, v in settings.items()})
    port = free_port()
    fd, log_name = tempfile.mkstemp(prefix="sk-bench-server-", suffix=".log")
    log_path = Path(log_name)
    try:
        with os.fdopen(fd, "wb") as log:
            process = subprocess.Popen(
                _command(server, port, workers),
                cwd=tempfile.gettempdir(),  # no stray .env file is read
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = Server(process=process, port=port, log_path=log_path)
        try:
            _wait_ready(server)
            yield server
        finally:
            _stop(process)
    finally:
        log_path.unlink(missing_ok=True)
