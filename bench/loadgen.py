"""Load for the single-heartbeat benchmark: ``wrk`` when installed, else a Python generator.

Both keep ``connections`` requests in flight for ``duration_s`` (a closed loop) and report
requests per second and latency percentiles. The Python generator runs in its own process
(``python -m bench.pyload``) so it never shares an interpreter with the server or the suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.populate import ID_WIDTH

HERE = Path(__file__).resolve().parent
LUA_SCRIPT = HERE / "heartbeat.lua"
_RESULT = re.compile(r"^BENCH_RESULT (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Load:
    base_url: str
    mode: str  # "heartbeat" or "bare"
    key: str
    sessions: int
    prefix: str
    connections: int
    duration_s: float
    threads: int = 1


@dataclass(frozen=True, slots=True)
class LoadResult:
    generator: str
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    def as_dict(self) -> dict[str, float | int | str]:
        return {**asdict(self), "rps": round(self.rps, 1)}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(load: Load) -> LoadResult:
    wrk = wrk_path()
    assert wrk is not None
    command = [
        wrk,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(load.duration_s))}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        load.base_url,
        "--",
        load.mode,
        load.key,
        str(load.sessions),
        load.prefix,
        str(ID_WIDTH - len(load.prefix)),
        str(load.threads),
    ]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=600)
    found = _RESULT.search(out.stdout)
    if found is None:
        raise RuntimeError(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")
    raw = json.loads(found.group(1))
    return LoadResult(
        generator="wrk",
        requests=raw["requests"],
        duration_s=raw["duration_us"] / 1e6,
        non_2xx=raw["non_2xx"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
    )


def run_python(load: Load) -> LoadResult:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE.parent), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "bench.pyload", json.dumps(asdict(load))]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env=env, timeout=600)
    return LoadResult(**json.loads(out.stdout.strip().splitlines()[-1]))


def run(load: Load, generator: str) -> LoadResult:
    return run_wrk(load) if generator == "wrk" else run_python(load)


def pick_generator(requested: str) -> str:
    """``auto`` means wrk when it is on PATH, the Python generator otherwise."""
    if requested == "auto":
        return "wrk" if wrk_path() else "python"
    if requested == "wrk" and not wrk_path():
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    return requested
