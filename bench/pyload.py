"""The Python load generator: ``python -m bench.pyload '<Load as JSON>'``.

Keeps ``connections`` keep-alive HTTP/1.1 connections busy for ``duration_s``, each sending
its next request as soon as the previous response is read (a closed loop), and prints one
JSON line (a :class:`bench.loadgen.LoadResult`). It speaks just enough HTTP/1.1 for this
server over raw asyncio streams, since a general-purpose client would itself be the
bottleneck. Used when ``wrk`` is not installed; on a small machine it still competes with
the server for CPU, which the report says by naming the generator.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bench.loadgen import Load, LoadResult
from bench.populate import session_id


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def _request(load: Load, host: str, counter: int) -> bytes:
    if load.mode == "heartbeat":
        path = f"/v1/sessions/{session_id(load.prefix, counter % load.sessions)}/heartbeat"
    else:
        path = "/bench/bare"
    body = json.dumps({"at": datetime.now(UTC).isoformat(timespec="milliseconds")}).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {load.key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response; returns its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    if length:
        await reader.readexactly(length)
    return status


async def _connection(
    load: Load, offset: int, deadline: float, latencies: list[float], failures: list[int]
) -> None:
    url = urlsplit(load.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    counter = offset
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = _request(load, f"{host}:{port}", counter)
            counter += load.connections
            began = time.perf_counter()
            try:
                writer.write(request)
                status = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                failures[1] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies.append(time.perf_counter() - began)
            if not 200 <= status < 300:
                failures[0] += 1
    finally:
        writer.close()


async def generate(load: Load) -> LoadResult:
    latencies: list[float] = []
    failures = [0, 0]  # non-2xx responses, socket errors
    began = time.perf_counter()
    deadline = began + load.duration_s
    await asyncio.gather(
        *(_connection(load, i, deadline, latencies, failures) for i in range(load.connections))
    )
    elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return LoadResult(
        generator="python",
        requests=len(ordered),
        duration_s=elapsed,
        non_2xx=failures[0],
        socket_errors=failures[1],
        p50_ms=_percentile(ordered, 50) * 1000,
        p90_ms=_percentile(ordered, 90) * 1000,
        p99_ms=_percentile(ordered, 99) * 1000,
        max_ms=(ordered[-1] if ordered else 0.0) * 1000,
    )


def main() -> None:
    load = Load(**json.loads(sys.argv[1]))
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(generate(load))
    else:
        result = uvloop.run(generate(load))
    print(json.dumps({k: v for k, v in result.as_dict().items() if k != "rps"}))


if __name__ == "__main__":
    main()
