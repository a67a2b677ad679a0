"""HTTP helpers shared by the presence scenarios: policies, snapshots, changes, sweeps, listing.

Every write goes through the HTTP API with the key a real caller would hold: ``ingest`` for a
tracker or a client app, ``read`` for listing, ``admin`` for policies and the sweep.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from tests.support import Harness, iso, ms

SOURCE = "discord-bot"
HEARTBEAT_S = 60
TIMEOUT_S = 300
GRACE_S = 30
TIMEOUT_MS = TIMEOUT_S * 1000
GRACE_MS = GRACE_S * 1000
SWEEP_EVERY_S = 15
POLICY = {"heartbeat_interval_s": HEARTBEAT_S, "timeout_s": TIMEOUT_S, "grace_s": GRACE_S}

Key = tuple[str, str, str | None]


def entry(user_id: str, kind: str, label: str | None = None, **attributes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": user_id, "kind": kind}
    if label is not None:
        body["label"] = label
    if attributes:
        body["attributes"] = attributes
    return body


def leave(user_id: str, kind: str, label: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"user_id": user_id, "kind": kind}
    if label is not None:
        body["label"] = label
    return body


def key_of(item: dict[str, Any]) -> Key:
    return (item["user_id"], item["kind"], item.get("label"))


async def set_policies(h: Harness, kinds: Iterable[str] = ("*",)) -> None:
    for kind in kinds:
        response = await h.put(f"/v1/policies/{kind}", POLICY)
        assert response.status_code == 200, response.text


async def put_snapshot(
    h: Harness,
    entries: list[dict[str, Any]],
    at: int | None = None,
    *,
    source: str = SOURCE,
    dry_run: bool = False,
    bare: bool = False,
) -> dict[str, Any]:
    """PUT the full state of a source; ``bare`` sends the plain list form (server time)."""
    body: object = entries
    if not bare:
        body = {"entries": entries} if at is None else {"entries": entries, "at": iso(at)}
    path = f"/v1/presence/{source}" + ("?dry_run=true" if dry_run else "")
    response = await h.put(path, body, scope="ingest")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def post_changes(
    h: Harness,
    joins: Sequence[dict[str, Any]] = (),
    leaves: Sequence[dict[str, Any]] = (),
    at: int | None = None,
    *,
    source: str = SOURCE,
    keepalive: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"joins": list(joins), "leaves": list(leaves)}
    if at is not None:
        body["at"] = iso(at)
    if keepalive:
        body["keepalive"] = True
    path = f"/v1/presence/{source}/changes" + ("?dry_run=true" if dry_run else "")
    response = await h.post(path, body, scope="ingest")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def sweep(h: Harness) -> int:
    response = await h.post("/v1/maintenance/sweep", scope="admin")
    assert response.status_code == 200, response.text
    closed: int = response.json()["closed"]
    return closed


async def all_sessions(h: Harness, **filters: object) -> list[dict[str, Any]]:
    """Every session matching ``filters``, following ``next_cursor`` through pages of 500."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, object] = {"limit": 500, **filters}
        if cursor:
            params["cursor"] = cursor
        response = await h.get("/v1/sessions", scope="read", **params)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def active_by_key(h: Harness, **filters: object) -> dict[Key, dict[str, Any]]:
    """The active sessions by (user, kind, label); fails on two open sessions of one key."""
    found: dict[Key, dict[str, Any]] = {}
    for item in await all_sessions(h, status="active", **filters):
        key = key_of(item)
        assert key not in found, f"two open sessions for {key}: {found[key]['id']}, {item['id']}"
        found[key] = item
    return found


def started_ms(item: dict[str, Any]) -> int:
    return ms(item["started_at"])


def ended_ms(item: dict[str, Any]) -> int | None:
    return None if item["ended_at"] is None else ms(item["ended_at"])


def last_seen_ms(item: dict[str, Any]) -> int:
    return ms(item["last_seen_at"])
