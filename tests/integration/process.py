"""``sessionkeeper`` as real processes: the CLI, and ``serve`` on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.processes import Server, free_port

STARTUP_TIMEOUT_S = 30.0


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any SESSIONKEEPER_* of its own, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONKEEPER_")}
    env.update({"COLUMNS": "200", **settings})
    return env


def run_cli(
    *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionkeeper", *args],
        env=dict(env),
        cwd=cwd,  # no stray .env file
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Served(Server):
    """A ``serve`` process that is stopped gracefully (SIGTERM) rather than killed."""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


@contextmanager
def serving(
    tmp: Path, env: Mapping[str, str], *args: str, port: int | None = None
) -> Iterator[Served]:
    """``sessionkeeper serve`` until the block ends; ready when /healthz answers."""
    port = port or free_port()
    n = len(list(tmp.glob("serve*.out")))
    stdout, stderr = tmp / f"serve{n}.out", tmp / f"serve{n}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sessionkeeper", "serve", "--port", str(port), *args],
            cwd=tmp,
            env=dict(env),
            stdout=out,
            stderr=err,
        )
    served = Served(proc, f"http://127.0.0.1:{port}", stdout, stderr)
    try:
        wait_ready(served)
        yield served
    finally:
        served.stop()


def wait_ready(served: Served) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise AssertionError(f"serve exited with {served.proc.returncode}:\n{served.output()}")
        try:
            if httpx.get(served.base_url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"serve did not answer in {STARTUP_TIMEOUT_S} s:\n{served.output()}")


def wait_for(predicate: object, *, timeout: float = 20.0, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s")
        time.sleep(every)
