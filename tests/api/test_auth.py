"""API keys: authentication, scopes and tenant isolation."""

from __future__ import annotations

import asyncio

import pytest

from sessionkeeper.domain.principal import Scope
from sessionkeeper.errors import Conflict, InvalidInput, NotFound
from sessionkeeper.storage import tenants as tenant_store
from tests.support import Harness


async def test_missing_and_unknown_keys_are_401(api: Harness) -> None:
    response = await api.client.get("/v1/sessions")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    response = await api.client.get("/v1/sessions", headers={"Authorization": "Bearer sk_nope"})
    assert response.status_code == 401


async def test_ingest_key_cannot_read_lists_or_admin(api: Harness) -> None:
    assert (await api.get("/v1/sessions", scope="ingest")).status_code == 403
    assert (await api.get("/v1/health", scope="ingest")).status_code == 403
    assert (await api.post("/v1/maintenance/sweep", scope="ingest")).status_code == 403
    assert (await api.put("/v1/policies/game", {}, scope="ingest")).status_code == 403


async def test_read_key_cannot_write(api: Harness) -> None:
    body = {"user_id": "u", "kind": "game"}
    response = await api.post("/v1/sessions", body, scope="read")
    assert response.status_code == 403
    assert response.json()["title"] == "Forbidden"
    assert (
        await api.post("/v1/heartbeats", {"heartbeats": [{"session_id": "x"}]}, scope="read")
    ).status_code == 403
    assert (await api.put("/v1/presence/bot", [], scope="read")).status_code == 403
    assert (await api.get("/v1/sessions", scope="read")).status_code == 200


async def test_another_tenants_session_is_404_and_reveals_nothing(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "shared", "user_id": "u", "kind": "game"})
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    for method, path in [
        ("GET", "/v1/sessions/shared"),
        ("POST", "/v1/sessions/shared/heartbeat"),
        ("POST", "/v1/sessions/shared/end"),
    ]:
        response = await api.client.request(method, path, headers=other)
        assert response.status_code == 404
        assert "u" not in response.json().get("session", {})
    assert (await api.client.get("/v1/sessions", headers=other)).json()["items"] == []
    # The same id is free in the other tenant.
    mine = await api.client.post(
        "/v1/sessions", json={"id": "shared", "user_id": "v", "kind": "voice"}, headers=other
    )
    assert mine.status_code == 201
    batch = await api.client.post(
        "/v1/heartbeats", json={"heartbeats": [{"session_id": "shared"}]}, headers=other
    )
    assert batch.json()["ok"] == 1
    assert (await api.get("/v1/sessions/shared")).json()["user_id"] == "u"


async def test_revoked_key_stops_working(api: Harness) -> None:
    key_id, secret = api.services.tenants.create_key("default", Scope.READ)
    headers = {"Authorization": f"Bearer {secret}"}
    assert (await api.client.get("/v1/sessions", headers=headers)).status_code == 200
    api.services.tenants.revoke_key(key_id)
    assert (await api.client.get("/v1/sessions", headers=headers)).status_code == 401
    assert api.services.tenants.revoke_key(key_id) is False


async def test_requests_arriving_together_read_their_key_once(
    api: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key not in the cache (a new one, or its lookup expired) is read once for all the
    requests in flight with it, not once by each of them."""
    secret = api.new_key("default", "read")
    reads: list[str] = []
    find_key = tenant_store.find_key

    def counted(conn, key_digest):  # type: ignore[no-untyped-def]
        reads.append(key_digest)
        return find_key(conn, key_digest)

    monkeypatch.setattr(tenant_store, "find_key", counted)
    headers = {"Authorization": f"Bearer {secret}"}
    answers = await asyncio.gather(
        *(api.client.get("/v1/sessions", headers=headers) for _ in range(20))
    )
    assert [a.status_code for a in answers] == [200] * 20
    assert len(reads) == 1


def test_keys_are_stored_hashed(api: Harness) -> None:
    _, secret = api.services.tenants.create_key("default", Scope.INGEST)
    keys = api.services.tenants.list_keys("default")
    assert all(secret not in (k.prefix, str(k)) for k in keys)
    assert any(secret.startswith(k.prefix) for k in keys)


def test_tenant_names_are_checked_and_unique(api: Harness) -> None:
    with pytest.raises(InvalidInput):
        api.services.tenants.create_tenant("no spaces")
    with pytest.raises(Conflict):
        api.services.tenants.create_tenant("default")
    with pytest.raises(NotFound):
        api.services.tenants.create_key("ghost", Scope.ADMIN)


async def test_a_credential_or_a_tenant_named_twice_is_refused(api: Harness) -> None:
    """Two Authorization or two Sessionkeeper-Tenant headers: which one was meant is not
    known, so the request is refused (422 naming the header) rather than the first taken."""
    auth = ("Authorization", api.auth()["Authorization"])
    for headers in (
        [auth, ("Authorization", "Bearer sk_other")],
        [auth, ("Sessionkeeper-Tenant", "default"), ("Sessionkeeper-Tenant", "other")],
    ):
        for path in ("/v1/sessions", "/v1/health"):
            response = await api.client.get(path, headers=headers)
            assert response.status_code == 422, (headers, response.text)
            body = response.json()
            assert body["code"] == "repeated_header" and body["field"] == headers[-1][0]
    # The same with the heartbeat's fast path.
    assert (await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "k"})).is_success
    beat = await api.client.post(
        "/v1/sessions/s/heartbeat", headers=[auth, ("Authorization", "Bearer sk_other")]
    )
    assert beat.status_code == 422 and beat.json()["code"] == "repeated_header"
    assert (await api.client.get("/v1/sessions", headers=[auth])).status_code == 200
