"""Ids of keys, tenants and audit entries, and cursors over them, count no other tenant's rows:
rows are numbered by one sequence across tenants, and the API shows them through the server's
permutation (``domain/public_ids.py``). On both databases."""

from __future__ import annotations

import pytest

from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.storage.database import Database
from tests.support import OPERATOR_KEY, Harness

OTHER_KEYS = 20


def other_tenant(api: Harness) -> dict[str, str]:
    api.services.tenants.create_tenant("other")
    return {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}


async def test_a_tenants_key_ids_do_not_count_another_tenants_keys(api_op: Harness) -> None:
    api = api_op
    other = other_tenant(api)
    first = (await api.post("/v1/keys", {"scope": "read"})).json()["id"]
    for _ in range(OTHER_KEYS):
        made = await api.client.post("/v1/keys", json={"scope": "read"}, headers=other)
        assert made.status_code == 201
    second = (await api.post("/v1/keys", {"scope": "read"})).json()["id"]
    # Shown as row ids, the second key would be the first + 21: the other tenant's 20 between.
    assert second - first != OTHER_KEYS + 1
    stored = {key.id for key in api.services.tenants.list_keys("default")}
    listed = [key["id"] for key in (await api.get("/v1/keys")).json()["items"]]
    assert first in listed and second in listed and not set(listed) & stored
    # The public id is the one every call takes, and one the other tenant cannot reach.
    assert (await api.client.delete(f"/v1/keys/{first}", headers=other)).status_code == 404
    revoked = await api.client.delete(f"/v1/keys/{first}", headers=api.auth())
    assert revoked.status_code == 200 and revoked.json()["id"] == first
    assert revoked.json()["revoked_at"] is not None
    for number in (0, 2**52, 2**63):
        answer = await api.client.delete(f"/v1/keys/{number}", headers=api.auth())
        assert answer.status_code in (404, 422), number


async def test_audit_ids_and_their_actors_count_nothing_of_another_tenant(api_op: Harness) -> None:
    api = api_op
    other = other_tenant(api)
    key = (await api.post("/v1/keys", {"scope": "admin"})).json()
    mine = {"Authorization": f"Bearer {key['key']}"}
    assert (await api.client.post("/v1/maintenance/sweep", headers=mine)).status_code == 200
    for _ in range(OTHER_KEYS):
        await api.client.post("/v1/maintenance/sweep", headers=other)
    await api.client.post("/v1/maintenance/sweep", headers=mine)
    page = (await api.get("/v1/audit", limit=1)).json()
    newer = page["items"][0]
    # The actor names the key by the id /v1/keys shows, not by its row.
    assert newer["actor"] == f"api_key:{key['id']}"
    assert page["next_before"] == newer["id"]
    older = (await api.get("/v1/audit", limit=1, before=newer["id"])).json()["items"][0]
    assert older["actor"] == newer["actor"] and older["action"] == "sweep.run"
    assert newer["id"] - older["id"] != OTHER_KEYS + 1
    everything = (await api.get("/v1/audit")).json()["items"]
    assert [entry["id"] for entry in everything[:2]] == [newer["id"], older["id"]]


async def test_a_tenants_jobs_name_it_by_the_id_the_operator_lists(api_op: Harness) -> None:
    api = api_op
    other = other_tenant(api)
    await api.client.post("/v1/maintenance/sweep", headers=other)
    operator = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    tenants = (await api.client.get("/v1/tenants", headers=operator)).json()["items"]
    shown = {tenant["name"]: tenant["id"] for tenant in tenants}
    row_ids = {name: api.services.tenants.tenant(name).id for name in shown}
    assert set(shown.values()).isdisjoint(row_ids.values())
    jobs = (await api.client.get("/v1/health", headers=other)).json()["jobs"]
    assert f"sweep@{shown['other']}" in jobs
    assert f"sweep@{row_ids['other']}" not in jobs
    everyone = (await api.client.get("/v1/health", headers=operator)).json()["jobs"]
    assert f"sweep@{shown['other']}" in everyone


async def test_the_ids_stay_the_same_for_every_process_of_the_server(api_op: Harness) -> None:
    """The permutation's key is kept in the database: another process (a second worker, a
    restart, a restored backup) shows the same ids."""
    api = api_op
    listed = [key["id"] for key in (await api.get("/v1/keys")).json()["items"]]
    again = Database(api.runtime.settings)
    try:
        assert again.public_ids == api.runtime.db.public_ids
        assert [
            again.public_ids.keys.public(k.id) for k in api.services.tenants.list_keys("default")
        ] == listed
    finally:
        again.close()


async def test_a_database_that_lost_the_key_says_so(api_op: Harness) -> None:
    """No new key is made behind the operator's back (every id would change): ids cannot be
    shown, and the answer says why."""
    from sessionkeeper.storage.tables import server_secrets

    api = api_op
    with api.runtime.db.write_engine.begin() as conn:
        kept = conn.execute(server_secrets.select()).mappings().all()
        conn.execute(server_secrets.delete())
    try:
        fresh = Database(api.runtime.settings)
        try:
            with pytest.raises(StorageUnavailable, match="server_secrets"):
                fresh.public_ids  # noqa: B018 -- the property reads the key
            fresh.read_public_ids()  # at startup: logged, not fatal
        finally:
            fresh.close()
    finally:
        with api.runtime.db.write_engine.begin() as conn:
            conn.execute(server_secrets.insert(), [dict(row) for row in kept])
