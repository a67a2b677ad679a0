"""The admin API: a tenant's keys, the operator key, tenants; every tenant sees only its own."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support import Harness, running_app

OPERATOR_KEY = "op-" + "k" * 40


@pytest.fixture
async def api_op(tmp_path: Path) -> AsyncIterator[Harness]:
    """The app with an operator key in its settings."""
    async with running_app(
        f"sqlite:///{tmp_path / 'sk.db'}", operator_key=OPERATOR_KEY, key_cache_ttl_s=0
    ) as harness:
        yield harness


def bearer(key: str, tenant: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if tenant is not None:
        headers["Sessionkeeper-Tenant"] = tenant
    return headers


async def test_an_admin_key_makes_lists_and_revokes_its_tenants_keys(api_op: Harness) -> None:
    api = api_op
    made = await api.post("/v1/keys", {"scope": "ingest"})
    assert made.status_code == 201, made.text
    new = made.json()
    assert new["key"].startswith("sk_") and new["key"].startswith(new["prefix"])
    assert new["tenant"] == "default" and new["scope"] == "ingest" and new["revoked_at"] is None
    started = await api.client.post(
        "/v1/sessions", json={"user_id": "u", "kind": "game"}, headers=bearer(new["key"])
    )
    assert started.status_code == 201
    listed = (await api.get("/v1/keys")).json()
    assert new["id"] in [k["id"] for k in listed["items"]]
    assert all("key" not in k for k in listed["items"])  # shown once, never again
    assert new["key"] not in (await api.get("/v1/keys")).text
    revoked = await api.client.delete(f"/v1/keys/{new['id']}", headers=api.auth())
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    again = await api.client.delete(f"/v1/keys/{new['id']}", headers=api.auth())
    assert again.json() == revoked.json()  # revoking is repeatable
    refused = await api.client.get("/v1/sessions", headers=bearer(new["key"]))
    assert refused.status_code == 401


async def test_keys_are_paged(api_op: Harness) -> None:
    api = api_op
    made = [(await api.post("/v1/keys", {"scope": "read"})).json()["id"] for _ in range(4)]
    ids: list[int] = []
    page = (await api.get("/v1/keys", limit=3)).json()
    pages = 1
    while page["next_cursor"] is not None:
        ids += [k["id"] for k in page["items"]]
        page = (await api.get("/v1/keys", limit=3, cursor=page["next_cursor"])).json()
        pages += 1
    ids += [k["id"] for k in page["items"]]
    # 3 harness keys and the 4 new ones, oldest first, each once.
    assert len(set(ids)) == 7 and ids[3:] == made
    assert pages == 3
    # Not a position this server could have issued: beyond a public id, or not ASCII digits.
    for cursor in ("abc", "0", str(2**52), "99999999999999999999", "²"):
        bad = await api.get("/v1/keys", cursor=cursor)
        assert bad.status_code == 422 and bad.json()["field"] == "cursor", cursor
    # Any id stands for some position: a page after it, perhaps empty, never an error.
    assert (await api.get("/v1/keys", cursor=str(2**52 - 1))).status_code == 200


async def test_a_tenant_never_sees_or_touches_another_tenants_keys(api_op: Harness) -> None:
    api = api_op
    api.services.tenants.create_tenant("other")
    other_admin = api.new_key("other", "admin")
    other_keys = (await api.client.get("/v1/keys", headers=bearer(other_admin))).json()["items"]
    mine = (await api.get("/v1/keys")).json()["items"]
    assert {k["tenant"] for k in other_keys} == {"other"}
    assert {k["id"] for k in mine}.isdisjoint({k["id"] for k in other_keys})
    victim = other_keys[0]["id"]
    response = await api.client.delete(f"/v1/keys/{victim}", headers=api.auth())
    assert response.status_code == 404
    assert response.json()["detail"] == f"this tenant has no key with id {victim}"
    still = (await api.client.get("/v1/keys", headers=bearer(other_admin))).json()["items"]
    assert all(k["revoked_at"] is None for k in still)
    named = await api.client.get(
        "/v1/keys", headers={**api.auth(), "Sessionkeeper-Tenant": "other"}
    )
    assert named.status_code == 403 and named.json()["code"] == "tenant_mismatch"


@pytest.mark.parametrize("scope", ["ingest", "read"])
async def test_only_admin_keys_manage_keys(api_op: Harness, scope: str) -> None:
    api = api_op
    assert (await api.get("/v1/keys", scope=scope)).status_code == 403
    assert (await api.post("/v1/keys", {"scope": "admin"}, scope=scope)).status_code == 403


@pytest.mark.parametrize(
    "body", [{"scope": "operator"}, {"scope": "root"}, {}, {"scope": "read", "x": 1}]
)
async def test_key_bodies_are_checked(api_op: Harness, body: dict[str, object]) -> None:
    response = await api_op.post("/v1/keys", body)
    assert response.status_code == 422 and response.json()["errors"]


async def test_the_operator_key_from_the_settings_manages_tenants(api_op: Harness) -> None:
    api = api_op
    op = bearer(OPERATOR_KEY)
    made = await api.client.post("/v1/tenants", json={"name": "reading-room"}, headers=op)
    assert made.status_code == 201, made.text
    tenant = made.json()
    assert tenant["name"] == "reading-room" and tenant["admin_key"]["scope"] == "admin"
    admin = bearer(tenant["admin_key"]["key"])
    assert (await api.client.get("/v1/sessions", headers=admin)).json()["items"] == []
    names = [t["name"] for t in (await api.client.get("/v1/tenants", headers=op)).json()["items"]]
    assert names == ["default", "reading-room"]
    duplicate = await api.client.post("/v1/tenants", json={"name": "reading-room"}, headers=op)
    assert duplicate.status_code == 409 and duplicate.json()["code"] == "tenant_exists"
    bad = await api.client.post("/v1/tenants", json={"name": "-no"}, headers=op)
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    # A tenant's admin key is no operator key.
    assert (await api.get("/v1/tenants")).status_code == 403
    assert (await api.post("/v1/tenants", {"name": "x"})).status_code == 403


async def test_the_operator_names_the_tenant_it_acts_on(api_op: Harness) -> None:
    api = api_op
    await api.post("/v1/sessions", {"id": "mine", "user_id": "u", "kind": "game"})
    op = bearer(OPERATOR_KEY)
    # Tenant data needs a tenant: the operator key alone is refused, not shown everything.
    alone = await api.client.get("/v1/sessions", headers=op)
    assert alone.status_code == 403 and alone.json()["code"] == "tenant_required"
    named = await api.client.get("/v1/sessions", headers=bearer(OPERATOR_KEY, "default"))
    assert [s["id"] for s in named.json()["items"]] == ["mine"]
    unknown = await api.client.get("/v1/sessions", headers=bearer(OPERATOR_KEY, "nobody"))
    assert unknown.status_code == 403 and unknown.json()["code"] == "unknown_tenant"
    key = await api.client.post(
        "/v1/keys", json={"scope": "read"}, headers=bearer(OPERATOR_KEY, "default")
    )
    assert key.status_code == 201 and key.json()["tenant"] == "default"
    started = await api.client.post(
        "/v1/sessions", json={"user_id": "v", "kind": "game"}, headers=op
    )
    assert started.status_code == 403  # never written to no tenant


async def test_an_operator_key_made_with_the_cli_works_and_can_be_revoked(api: Harness) -> None:
    tenants = api.services.tenants
    key_id, secret = tenants.create_operator_key()
    listed = {k.id: k for k in tenants.list_keys()}
    assert listed[key_id].tenant_id is None and listed[key_id].scope == "operator"
    assert (await api.client.get("/v1/tenants", headers=bearer(secret))).status_code == 200
    # Operator keys are no tenant's: a tenant's listing does not show them.
    shown = api.runtime.db.public_ids.keys.public(key_id)
    assert shown not in [k["id"] for k in (await api.get("/v1/keys")).json()["items"]]
    assert (await api.client.delete(f"/v1/keys/{shown}", headers=api.auth())).status_code == 404
    tenants.revoke_key(key_id)
    api.services.auth.forget()
    assert (await api.client.get("/v1/tenants", headers=bearer(secret))).status_code == 401
