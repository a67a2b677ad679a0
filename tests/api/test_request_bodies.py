"""Request bodies: gzip in, caps on the decoded size, presence summaries, gzip out, strict
JSON (duplicate keys) and addressable session ids."""

from __future__ import annotations

import gzip
import json
from typing import Any

import httpx
import pytest

from tests.support import Harness

GZIP = {"content-type": "application/json", "content-encoding": "gzip"}


def realistic_entries(n: int) -> list[dict[str, Any]]:
    """Voice and game entries as a Discord bot reports them: ids, labels and a few flags."""
    return [
        {
            "user_id": f"{480_000_000_000_000_000 + i}",
            "kind": "voice" if i % 2 else "game",
            "label": f"General voice channel {i % 40}" if i % 2 else f"Minecraft Java {i % 7}",
            "attributes": {
                "guild_id": "312345678901234567",
                "channel_id": f"{512_000_000_000_000_000 + i % 40}",
                "self_mute": i % 3 == 0,
                "self_deaf": False,
                "streaming": i % 11 == 0,
                "session_started_at": "2026-01-05T08:59:00+00:00",
            },
        }
        for i in range(n)
    ]


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["request_id"] == response.headers["x-request-id"]
    return body


async def test_gzip_body_is_decoded(api: Harness) -> None:
    raw = gzip.compress(json.dumps({"id": "gz", "user_id": "u", "kind": "game"}).encode())
    response = await api.client.post("/v1/sessions", content=raw, headers={**GZIP, **api.auth()})
    assert response.status_code == 201, response.text
    assert (await api.get("/v1/sessions/gz")).json()["user_id"] == "u"


async def test_ten_thousand_realistic_entries_fit_plain_and_gzipped(api: Harness) -> None:
    entries = realistic_entries(10_000)
    raw = json.dumps(entries).encode()
    assert len(raw) > 2_000_000  # more than the 1 MiB that caps other bodies
    plain = await api.client.put(
        "/v1/presence/bot",
        content=raw,
        headers={"content-type": "application/json", **api.auth()},
        params={"reply": "summary"},
    )
    assert plain.status_code == 200, plain.text[:300]
    assert plain.json()["started_count"] == 10_000
    api.advance(10)
    zipped = await api.client.put(
        "/v1/presence/bot",
        content=gzip.compress(raw),
        headers={**GZIP, **api.auth()},
        params={"reply": "summary"},
    )
    assert zipped.status_code == 200, zipped.text[:300]
    assert zipped.json()["refreshed_count"] == 10_000


async def test_summary_reply_is_counts_only(api: Harness) -> None:
    entries = realistic_entries(2_000)
    full = await api.put("/v1/presence/bot", entries)
    assert len(full.json()["to_start"]) == 2_000
    api.advance(10)
    summary = await api.client.put(
        "/v1/presence/bot", json=entries, headers=api.auth(), params={"reply": "summary"}
    )
    assert summary.json() == {
        "source": "bot",
        "at": summary.json()["at"],
        "dry_run": False,
        "stale": False,
        "started_count": 0,
        "refreshed_count": 2_000,
        "ended_count": 0,
        "timed_out_count": 0,
    }
    assert len(summary.content) < 500
    changes = await api.client.post(
        "/v1/presence/bot/changes",
        json={
            "leaves": [
                {"user_id": entries[0]["user_id"], "kind": "game", "label": entries[0]["label"]}
            ]
        },
        headers=api.auth(),
        params={"reply": "summary"},
    )
    assert changes.json()["ended_count"] == 1 and "to_end" not in changes.json()


async def test_large_answers_are_gzipped_when_accepted(api: Harness) -> None:
    await api.put("/v1/presence/bot", realistic_entries(200))
    response = await api.client.get(
        "/v1/sessions", params={"limit": 200}, headers={**api.auth(), "accept-encoding": "gzip"}
    )
    assert response.headers["content-encoding"] == "gzip"
    assert len(response.json()["items"]) == 200  # httpx decoded it
    small = await api.client.get("/healthz", headers={"accept-encoding": "gzip"})
    assert "content-encoding" not in small.headers  # not worth compressing
    plain = await api.client.get(
        "/v1/sessions", params={"limit": 200}, headers={**api.auth(), "accept-encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers


async def test_a_zip_bomb_is_413_after_the_cap_not_after_inflating(api: Harness) -> None:
    # 64 MiB of spaces inside a JSON string compress to about 64 KiB.
    bomb = gzip.compress(b'{"user_id": "u", "kind": "game", "label": "' + b" " * (64 << 20) + b'"}')
    assert len(bomb) < api.runtime.settings.max_body_bytes
    response = await api.client.post("/v1/sessions", content=bomb, headers={**GZIP, **api.auth()})
    body = problem(response, 413)
    assert body["code"] == "decoded_too_large"
    snapshot_bomb = gzip.compress(b"[" + b" " * (64 << 20) + b"]")
    response = await api.client.put(
        "/v1/presence/bot", content=snapshot_bomb, headers={**GZIP, **api.auth()}
    )
    assert problem(response, 413)["code"] == "decoded_too_large"


async def test_decoded_cap_holds_for_what_fits_on_the_wire(api: Harness) -> None:
    cap = api.runtime.settings.max_body_bytes
    attributes = {f"k{i}": "x" * 1000 for i in range(cap // 1000 + 10)}
    raw = json.dumps({"user_id": "u", "kind": "game", "attributes": attributes}).encode()
    assert len(raw) > cap and len(gzip.compress(raw)) < cap
    response = await api.client.post(
        "/v1/sessions", content=gzip.compress(raw), headers={**GZIP, **api.auth()}
    )
    assert problem(response, 413)["code"] == "decoded_too_large"


@pytest.mark.parametrize("encoding", ["br", "deflate", "zstd", "gzip, br", "gzip, gzip"])
async def test_other_encodings_are_415(api: Harness, encoding: str) -> None:
    response = await api.client.post(
        "/v1/sessions",
        content=b"{}",
        headers={"content-type": "application/json", "content-encoding": encoding, **api.auth()},
    )
    body = problem(response, 415)
    assert body["code"] == "unsupported_encoding" and "gzip" in body["detail"]
    assert response.headers["accept-encoding"] == "gzip"


@pytest.mark.parametrize(
    "raw",
    [b"not gzip at all", gzip.compress(b'{"user_id": "u", "kind": "game"}', mtime=0)[:-8]],
    ids=["garbage", "truncated"],
)
async def test_malformed_gzip_is_422(api: Harness, raw: bytes) -> None:
    response = await api.client.post("/v1/sessions", content=raw, headers={**GZIP, **api.auth()})
    body = problem(response, 422)
    assert body["field"] == "body" and body["errors"][0]["field"] == "body"
    assert (await api.get("/v1/sessions")).json()["items"] == []


@pytest.mark.parametrize(
    ("path", "raw", "key"),
    [
        ("/v1/sessions", b'{"user_id": "a", "kind": "game", "user_id": "b"}', "user_id"),
        (
            "/v1/sessions",
            b'{"user_id": "a", "kind": "game", "attributes": {"x": 1, "x": 2}}',
            "x",
        ),
        (
            "/v1/heartbeats",
            b'{"heartbeats": [{"session_id": "s", "session_id": "t"}]}',
            "session_id",
        ),
    ],
)
async def test_duplicate_keys_are_422_naming_the_key(
    api: Harness, path: str, raw: bytes, key: str
) -> None:
    response = await api.client.post(
        path, content=raw, headers={"content-type": "application/json", **api.auth()}
    )
    body = problem(response, 422)
    assert f'duplicate key "{key}"' in body["detail"]
    assert body["errors"]
    assert (await api.get("/v1/sessions")).json()["items"] == []


async def test_duplicate_keys_in_a_snapshot_entry_are_422(api: Harness) -> None:
    raw = b'[{"user_id": "u", "kind": "game", "kind": "voice"}]'
    response = await api.client.put(
        "/v1/presence/bot", content=raw, headers={"content-type": "application/json", **api.auth()}
    )
    assert 'duplicate key "kind"' in problem(response, 422)["detail"]


@pytest.mark.parametrize("session_id", [".", "..", "...", "." * 64])
async def test_ids_of_dots_only_are_422(api: Harness, session_id: str) -> None:
    response = await api.post("/v1/sessions", {"id": session_id, "user_id": "u", "kind": "game"})
    body = problem(response, 422)
    assert body["field"] == "id"
    batch = await api.post("/v1/heartbeats", {"heartbeats": [{"session_id": session_id}]})
    assert problem(batch, 422)["field"] == "heartbeats.0.session_id"


@pytest.mark.parametrize("session_id", ["a.b", ".hidden", "v1..2", "..x", "x.."])
async def test_ids_with_dots_and_more_are_fine(api: Harness, session_id: str) -> None:
    response = await api.post("/v1/sessions", {"id": session_id, "user_id": "u", "kind": "game"})
    assert response.status_code == 201, response.text
    assert (await api.get(f"/v1/sessions/{session_id}")).json()["id"] == session_id
