"""An application holding a session, run as a process of its own by the fault tests.

    python -m tests.client.app_process <sync|async> <base_url> <key> <kind> <every> [spool]
    python -m tests.client.app_process <deliver-sync|deliver-async> <base_url> <key> <spool>

Prints ``entered <session id>`` once inside the block and leaves the block when a line
arrives on stdin; then waits (bounded) until everything is delivered and prints the ids of
the sessions the handle made, as JSON. With a spool directory its client keeps there what it
could not deliver. The ``deliver`` modes are the application run again after a crash: they
deliver what the spool holds and print, per spooled handle, the ids and what is left.
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


def run_sync(base_url: str, key: str, kind: str, every: float, spool: str | None) -> None:
    with Client(base_url, key, backoff=0.05, spool=spool) as client:
        with client.session("app-user", kind, heartbeat_every=every) as s:
            print("entered", s.id, flush=True)
            sys.stdin.readline()
        deadline = time.monotonic() + DELIVERY_WAIT_S
        while s.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        report(s)


async def run_async(base_url: str, key: str, kind: str, every: float, spool: str | None) -> None:
    loop = asyncio.get_running_loop()
    async with AsyncClient(base_url, key, backoff=0.05, spool=spool) as client:
        async with client.session("app-user", kind, heartbeat_every=every) as s:
            print("entered", s.id, flush=True)
            await loop.run_in_executor(None, sys.stdin.readline)
        deadline = loop.time() + DELIVERY_WAIT_S
        while s.pending and loop.time() < deadline:
            await asyncio.sleep(0.05)
        report(s)


def deliver_sync(base_url: str, key: str, spool: str) -> None:
    with Client(base_url, key, backoff=0.05, spool=spool) as client:
        for handle in client.deliver_spooled(wait=DELIVERY_WAIT_S):
            report(handle)


async def deliver_async(base_url: str, key: str, spool: str) -> None:
    async with AsyncClient(base_url, key, backoff=0.05, spool=spool) as client:
        for handle in await client.deliver_spooled(wait=DELIVERY_WAIT_S):
            report(handle)


def main() -> None:
    mode, base_url, key, *rest = sys.argv[1:]
    if mode == "deliver-sync":
        deliver_sync(base_url, key, rest[0])
    elif mode == "deliver-async":
        asyncio.run(deliver_async(base_url, key, rest[0]))
    else:
        kind, every, *spool = rest
        spool_dir = spool[0] if spool else None
        if mode == "sync":
            run_sync(base_url, key, kind, float(every), spool_dir)
        else:
            asyncio.run(run_async(base_url, key, kind, float(every), spool_dir))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
