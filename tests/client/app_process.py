"""An application holding a session, run as a process of its own by the fault tests.

    python -m tests.client.app_process <sync|async> <base_url> <api_key> <kind> <heartbeat_every>

Prints ``entered <session id>`` once inside the block and leaves the block when a line
arrives on stdin; then waits (bounded) until everything is delivered and prints the ids of
the sessions the handle made, as JSON.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from sessionkeeper.client import AsyncClient, Client
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle

DELIVERY_WAIT_S = 20.0


def report(handle: SessionHandle | AsyncSessionHandle) -> None:
    print(json.dumps({"ids": [s.id for s in handle.sessions], "pending": handle.pending}))


def run_sync(base_url: str, key: str, kind: str, every: float) -> None:
    with Client(base_url, key, backoff=0.05) as client:
        with client.session("app-user", kind, heartbeat_every=every) as s:
            print("entered", s.id, flush=True)
            sys.stdin.readline()
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while s.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        report(s)


async def run_async(base_url: str, key: str, kind: str, every: float) -> None:
    loop = asyncio.get_running_loop()
    async with AsyncClient(base_url, key, backoff=0.05) as client:
        async with client.session("app-user", kind, heartbeat_every=every) as s:
            print("entered", s.id, flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
        deadline = loop.time() + DELIVERY_WAIT_S
        while s.pending and loop.time() < deadline:
            await asyncio.sleep(0.05)
        report(s)


def main() -> None:
    mode, base_url, key, kind, every = sys.argv[1:]
    if mode == "sync":
        run_sync(base_url, key, kind, float(every))
    else:
        asyncio.run(run_async(base_url, key, kind, float(every)))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
