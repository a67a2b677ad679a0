"""A user id with "/" reaches ``/v1/users/{user_id}/…`` through a real server process: the
segment the client encoded stays one segment through uvicorn, also under a root path (as
behind a reverse proxy that strips a prefix)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from tests.processes import Servers, client_for


@pytest.mark.parametrize("root_path", ["", "/sessionkeeper"])
async def test_encoded_user_ids_through_uvicorn(tmp_path: Path, root_path: str) -> None:
    servers = Servers(tmp_path, **({"root_path": root_path} if root_path else {}))
    try:
        server = await servers.start()
        key = servers.bootstrap_key(server)
        async with client_for(server, key) as client:
            for n, user in enumerate(["team/alice", "team", "a%b", "ünï/cødé"]):
                body = {"id": f"s{n}", "user_id": user, "kind": "lesson"}
                assert (await client.post("/v1/sessions", json=body)).status_code == 201
                r = await client.post(
                    f"/v1/sessions/s{n}/end", json={"outcome": {"tags": {"u": [user]}}}
                )
                assert r.status_code == 200 and r.json()["outcome"]["tags"] == {"u": [user]}
            for n, user in enumerate(["team/alice", "team", "a%b", "ünï/cødé"]):
                r = await client.get(f"/v1/users/{quote(user, safe='')}/sessions")
                assert r.status_code == 200, (user, r.text)
                assert [(s["id"], s["user_id"]) for s in r.json()["items"]] == [(f"s{n}", user)]
            r = await client.get("/v1/users/team/alice/sessions")
            assert r.status_code == 404
            r = await client.delete(f"/v1/users/{quote('team/alice', safe='')}")
            assert r.status_code == 200 and r.json()["erased"]["sessions"] == 1
            r = await client.get("/v1/users/team/sessions")
            assert [s["id"] for s in r.json()["items"]] == ["s1"]
    finally:
        servers.stop_all()
