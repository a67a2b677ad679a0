"""Real server processes for tests: ``sessionkeeper serve`` on a free port of 127.0.0.1, on a
database given by URL, killed at the end of the test whatever happens."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """One ``sessionkeeper serve`` process on a database file."""

    proc: subprocess.Popen[bytes]
    base_url: str
    stdout: Path
    stderr: Path

    def output(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL to the server and any worker processes it started: no shutdown hook, no
        final commit, no flush."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


class Servers:
    """Starts servers on one database and makes sure none outlives the test."""

    def __init__(self, tmp: Path, db_url: str | None = None, **settings: str) -> None:
        self.tmp = tmp
        self.db_url = db_url or f"sqlite:///{tmp / 'sk.db'}"
        # Extra SESSIONKEEPER_* settings, by lower-case name without the prefix.
        self.settings = settings
        self.started: list[Server] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONKEEPER_")}
        env.update(
            SESSIONKEEPER_DATABASE_URL=self.db_url,
            # Only the sweep a start runs at once; the periodic one would blur the checks.
            SESSIONKEEPER_SWEEP_INTERVAL_S="3600",
            SESSIONKEEPER_LOG_LEVEL="warning",
        )
        env.update({f"SESSIONKEEPER_{k.upper()}": v for k, v in self.settings.items()})
        return env

    async def start(self, *extra_args: str, port: int | None = None) -> Server:
        """A server on ``port`` (a free one by default: give a killed server's port to bring
        it back where its clients look for it)."""
        n = len(self.started)
        port = port or free_port()
        stdout, stderr = self.tmp / f"server{n}.out", self.tmp / f"server{n}.err"
        with stdout.open("wb") as out, stderr.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "sessionkeeper", "serve", "--port", str(port), *extra_args],
                cwd=self.tmp,  # no stray .env file
                env=self.env(),
                start_new_session=True,  # its own process group, workers included
                stdout=out,
                stderr=err,
            )
        server = Server(proc, f"http://127.0.0.1:{port}", stdout, stderr)
        self.started.append(server)
        await self._wait_ready(server)
        return server

    async def _wait_ready(self, server: Server) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        async with httpx.AsyncClient(base_url=server.base_url, timeout=1.0) as client:
            while time.monotonic() < deadline:
                if server.proc.poll() is not None:
                    pytest.fail(f"server exited with {server.proc.returncode}:\n{server.output()}")
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        pytest.fail(f"server did not answer /healthz in {STARTUP_TIMEOUT_S} s:\n{server.output()}")

    def bootstrap_key(self, server: Server) -> str:
        """The admin key a first start prints alone on a line of stdout."""
        for line in server.stdout.read_text().splitlines():
            if line.startswith("sk_"):
                return line.strip()
        pytest.fail(f"first start printed no admin key:\n{server.output()}")

    async def admin_clients(self, count: int) -> list[httpx.AsyncClient]:
        """``count`` servers on the database, and a client of each with the admin key the
        first one printed."""
        first = await self.start()
        key = self.bootstrap_key(first)
        servers = [first, *[await self.start() for _ in range(count - 1)]]
        headers = {"Authorization": f"Bearer {key}"}
        return [
            httpx.AsyncClient(base_url=s.base_url, headers=headers, timeout=60) for s in servers
        ]

    def stop_all(self) -> None:
        for server in self.started:
            if server.proc.poll() is None:
                server.kill()


@asynccontextmanager
async def client_for(server: Server, key: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.base_url,
        headers={"Authorization": f"Bearer {key}"},
        timeout=httpx.Timeout(10.0),
    ) as client:
        yield client
