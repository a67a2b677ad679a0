"""An open-loop load generator: ``python -m bench.steady_load '<SteadyLoad as JSON>'``.

Single heartbeats at a fixed rate, as a fleet of clients each beating on its own schedule
would send them: beat ``i`` is due at ``start + i / rate`` whether or not earlier answers
came back, and goes to session ``i % sessions`` (so each session beats every
``sessions / rate`` seconds). A beat's latency is counted from the moment it was due, not from
when a connection was free to send it, so a server that falls behind shows its queue in the
percentiles instead of slowing the generator down (no coordinated omission).

Requests go over up to ``connections`` keep-alive HTTP/1.1 connections in the raw HTTP of
``bench/pyload.py``; a due beat waits for a free connection, and that wait counts. The first
``warmup_s`` seconds are sent but not recorded. Prints one JSON line
(:class:`SteadyResult`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from bench.populate import session_id
from bench.pyload import _percentile, _read_response

# How often the scheduler wakes to release the beats that fell due meanwhile.
TICK_S = 0.001


@dataclass(frozen=True, slots=True)
class SteadyLoad:
    base_url: str
    key: str
    sessions: int
    prefix: str
    rate: float  # beats per second
    warmup_s: float
    duration_s: float
    connections: int = 256
    mode: str = "heartbeat"  # or "bare": POST /bench/bare, the same HTTP without the work


@dataclass(frozen=True, slots=True)
class SteadyResult:
    rate: float
    sent: int
    answered: int
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    # How late the generator itself released beats (a busy machine): the 99th percentile.
    release_lag_p99_ms: float
    duration_s: float

    @property
    def achieved_rate(self) -> float:
        return self.answered / self.duration_s if self.duration_s else 0.0


def _request(load: SteadyLoad, host: str, n: int) -> bytes:
    path = f"/v1/sessions/{session_id(load.prefix, n % load.sessions)}/heartbeat"
    if load.mode == "bare":
        path = "/bench/bare"
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {load.key}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


class _Run:
    def __init__(self, load: SteadyLoad) -> None:
        self.load = load
        url = urlsplit(load.base_url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
        self.latencies: list[float] = []
        self.lags: list[float] = []
        self.non_2xx = 0
        self.socket_errors = 0
        self.sent = 0
        self.record_from = 0.0

    async def schedule(self, start: float, total: int) -> None:
        """Release beat ``i`` at ``start + i / rate``."""
        released = 0
        while released < total:
            now = time.perf_counter()
            due_now = min(total, int((now - start) * self.load.rate) + 1)
            for i in range(released, due_now):
                due_at = start + i / self.load.rate
                if due_at >= self.record_from:
                    self.lags.append(now - due_at)
                self.due.put_nowait((i, due_at))
            released = due_now
            await asyncio.sleep(TICK_S)
        for _ in range(self.load.connections):
            self.due.put_nowait(None)

    async def connection(self) -> None:
        reader, writer = await asyncio.open_connection(self.host, self.port)
        host = f"{self.host}:{self.port}"
        try:
            while (item := await self.due.get()) is not None:
                n, due_at = item
                self.sent += 1
                try:
                    writer.write(_request(self.load, host, n))
                    status = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    self.socket_errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    continue
                if due_at >= self.record_from:
                    self.latencies.append(time.perf_counter() - due_at)
                    if not 200 <= status < 300:
                        self.non_2xx += 1
        finally:
            writer.close()


async def generate(load: SteadyLoad) -> SteadyResult:
    run = _Run(load)
    workers = [asyncio.create_task(run.connection()) for _ in range(load.connections)]
    await asyncio.sleep(0.2)  # the connections open before the clock starts
    start = time.perf_counter()
    run.record_from = start + load.warmup_s
    total = round((load.warmup_s + load.duration_s) * load.rate)
    await run.schedule(start, total)
    await asyncio.gather(*workers)
    ordered = sorted(run.latencies)
    lags = sorted(run.lags)
    return SteadyResult(
        rate=load.rate,
        sent=run.sent,
        answered=len(ordered),
        non_2xx=run.non_2xx,
        socket_errors=run.socket_errors,
        p50_ms=_percentile(ordered, 50) * 1000,
        p90_ms=_percentile(ordered, 90) * 1000,
        p99_ms=_percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
        release_lag_p99_ms=_percentile(lags, 99) * 1000,
        duration_s=load.duration_s,
    )


def main() -> None:
    load = SteadyLoad(**json.loads(sys.argv[1]))
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(generate(load))
    else:
        result = uvloop.run(generate(load))
    print(json.dumps({**asdict(result), "achieved_rate": round(result.achieved_rate, 1)}))


if __name__ == "__main__":
    main()
