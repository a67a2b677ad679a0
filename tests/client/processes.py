"""Real processes for the client's fault tests: a server that can be killed and restarted on
the same port and database, and an application that can be suspended."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.client.live import wait_until
from tests.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
STARTUP_TIMEOUT_S = 30.0


class ServerProcess:
    """``sessionkeeper serve`` on a SQLite file, always on the same port."""

    def __init__(self, tmp: Path, *, sweep_interval_s: float = 0.5) -> None:
        self.tmp = tmp
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.sweep_interval_s = sweep_interval_s
        self.runs = 0
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONKEEPER_")}
        env.update(
            SESSIONKEEPER_DATABASE_URL=f"sqlite:///{self.tmp / 'sk.db'}",
            SESSIONKEEPER_SWEEP_INTERVAL_S=str(self.sweep_interval_s),
            SESSIONKEEPER_LOG_LEVEL="warning",
        )
        return env

    def start(self) -> None:
        self.runs += 1
        out = (self.tmp / f"server{self.runs}.out").open("wb")
        err = (self.tmp / f"server{self.runs}.err").open("wb")
        with out, err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sessionkeeper", "serve", "--port", str(self.port)],
                cwd=self.tmp,  # no stray .env file
                env=self.env(),
                stdout=out,
                stderr=err,
            )
        wait_until(self._ready, timeout=STARTUP_TIMEOUT_S, every=0.05)

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the server exited:\n{self.output()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no final commit."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def output(self) -> str:
        return "".join(
            path.read_text(errors="replace") for path in sorted(self.tmp.glob("server*.*"))
        )

    def admin_key(self) -> str:
        """The admin key the first start prints alone on a line of stdout."""
        for line in (self.tmp / "server1.out").read_text().splitlines():
            if line.startswith("sk_"):
                return line.strip()
        raise AssertionError(f"the first start printed no admin key:\n{self.output()}")


class AppProcess:
    """``tests.client.app_process``: one application holding one session."""

    def __init__(
        self,
        mode: str,
        base_url: str,
        key: str,
        kind: str,
        every: float,
        spool: Path | None = None,
    ) -> None:
        command = ["-m", "tests.client.app_process", mode, base_url, key, kind, str(every)]
        if spool is not None:
            command.append(str(spool))
        self.proc = subprocess.Popen(
            [sys.executable, *command],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line.startswith("entered "):
            self.proc.kill()
            raise AssertionError(f"the application did not start: {line!r} {self.stderr()}")
        self.session_id = line.split()[1]

    def suspend(self) -> None:
        """SIGSTOP, and wait until every thread of it stands still."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        stat = Path(f"/proc/{self.proc.pid}/stat")
        wait_until(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T")

    def resume(self) -> None:
        os.kill(self.proc.pid, signal.SIGCONT)

    def ask_to_leave(self) -> None:
        """End the block without waiting for the application to finish."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"\n")
        self.proc.stdin.flush()

    def leave(self) -> str:
        """End the block; returns what the application printed after it."""
        out, err = self.proc.communicate(b"\n", timeout=60)
        if self.proc.returncode != 0:
            raise AssertionError(f"the application failed:\n{err.decode()}")
        return out.decode()

    def stderr(self) -> str:
        self.proc.wait(5)
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.resume()
            self.proc.kill()
            self.proc.wait(10)


def deliver_spooled(mode: str, base_url: str, key: str, spool: Path) -> list[dict[str, object]]:
    """The application run again after a crash: what it printed of each spooled handle."""
    command = ["-m", "tests.client.app_process", f"deliver-{mode}", base_url, key, str(spool)]
    done = subprocess.run(
        [sys.executable, *command], cwd=ROOT, capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"delivering the spool failed:\n{done.stderr.decode()}")
    return [json.loads(line) for line in done.stdout.decode().splitlines()]
