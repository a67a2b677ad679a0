"""Who may start a browser tracker's session, and how its reports are limited: the tracker's
start takes its key from the body, and answers it as every other endpoint answers a key."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support import OPERATOR_KEY, Harness, running_app

ORIGIN = "https://school.example"


@pytest.fixture
async def limited(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(
        sqlite_url, rate_limit_per_key=2, rate_limit_burst=4, operator_key=OPERATOR_KEY
    ) as api:
        yield api


async def send(api: Harness, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN, **headers}
    return await api.client.post(path, content=json.dumps(body), headers=headers)


async def test_an_operator_key_names_its_tenant_to_start_a_tracker(api_op: Harness) -> None:
    api = api_op
    body = {"kind": "page", "user_id": "x"}
    for where in ({"Authorization": f"Bearer {OPERATOR_KEY}"}, {}):
        key = {} if where else {"key": OPERATOR_KEY}
        refused = await send(api, "/v1/tracker/start", {**body, **key}, **where)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "tenant_required"
    named = await send(
        api,
        "/v1/tracker/start",
        body,
        Authorization=f"Bearer {OPERATOR_KEY}",
        **{"Sessionkeeper-Tenant": "default"},
    )
    assert named.status_code == 201, named.text
    stored = await api.get(f"/v1/sessions/{named.json()['session_id']}")
    assert stored.status_code == 200 and stored.json()["source"] == "browser"


async def test_a_tenants_key_may_not_name_another_tenant_on_a_tracker_start(
    api_op: Harness,
) -> None:
    api = api_op
    api.services.tenants.create_tenant("beta")
    body = {"kind": "page", "key": api.keys["admin"]}
    refused = await send(api, "/v1/tracker/start", body, **{"Sessionkeeper-Tenant": "beta"})
    assert refused.status_code == 403 and refused.json()["code"] == "tenant_mismatch"


async def test_a_trackers_reports_are_limited_by_its_token(limited: Harness) -> None:
    api = limited
    made = await api.post("/v1/publishable-keys", {"origins": [ORIGIN]})
    started = await send(api, "/v1/tracker/start", {"key": made.json()["key"], "kind": "page"})
    assert started.status_code == 201, started.text
    token = started.json()["token"]
    answers = []
    for seq in range(1, 7):
        report = {"token": token, "seq": seq, "engaged_ms": 0, "visible_ms": 0, "wall_ms": 0}
        answers.append((await send(api, "/v1/tracker/beat", report)).status_code)
    assert answers[:4] == [200] * 4 and 429 in answers[4:], answers


async def test_each_operator_key_has_a_bucket_and_a_name_of_its_own(limited: Harness) -> None:
    api = limited
    first = {"Authorization": f"Bearer {OPERATOR_KEY}"}
    key_id, stored_key = api.services.tenants.create_operator_key()
    second = {"Authorization": f"Bearer {stored_key}"}
    for _ in range(4):
        assert (await api.client.get("/v1/tenants", headers=first)).status_code == 200
    assert (await api.client.get("/v1/tenants", headers=first)).status_code == 429
    assert (await api.client.get("/v1/tenants", headers=second)).status_code == 200
    acting = {**second, "Sessionkeeper-Tenant": "default"}
    swept = await api.client.post("/v1/maintenance/sweep", headers=acting)
    assert swept.status_code == 200, swept.text
    entries = (await api.get("/v1/audit")).json()["items"]
    public = api.runtime.db.public_ids.keys.public(key_id)
    assert entries[0]["actor"] == f"operator:{public}", entries
