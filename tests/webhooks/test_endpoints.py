"""The webhook endpoints' API: what is accepted and refused, secrets shown once, SSRF
refusals, tenant isolation, scopes and the deliveries listing."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks import Webhook

from sessionkeeper.clock import ManualClock
from sessionkeeper.webhooks.service import MAX_ENDPOINTS
from tests.support import Harness, running_app
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import deliver, deliveries, register, start

PUBLIC = "https://8.8.8.8/hook"  # a public address: accepted without resolving a name


async def test_create_shows_the_secret_once(api: Harness) -> None:
    response = await api.post(
        "/v1/webhooks",
        {"url": PUBLIC, "events": ["session.ended", "session.timed_out"], "description": "tg"},
    )
    assert response.status_code == 201
    hook = response.json()
    assert hook["id"].startswith("wh_") and hook["status"] == "enabled"
    assert hook["events"] == ["session.ended", "session.timed_out"]
    assert hook["description"] == "tg" and hook["disabled_reason"] is None
    secret = hook["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    shown = (await api.get(f"/v1/webhooks/{hook['id']}")).json()
    listed = (await api.get("/v1/webhooks")).json()["items"]
    assert "secret" not in shown and [h["id"] for h in listed] == [hook["id"]]
    assert secret not in str(shown) + str(listed)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": PUBLIC, "events": ["session.paused"]}, "events.0"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC, "events": ["session.ended", "session.ended"]}, "events"),
        ({"url": PUBLIC}, "events"),
        ({"events": ["session.ended"]}, "url"),
        ({"url": 42, "events": ["session.ended"]}, "url"),
        ({"url": PUBLIC, "events": ["session.ended"], "secret": "mine"}, "secret"),
        ({"url": PUBLIC, "events": ["session.ended"], "description": "x" * 257}, "description"),
        ({"url": "ftp://8.8.8.8/x", "events": ["session.ended"]}, "url"),
        ({"url": "https://u:p@8.8.8.8/x", "events": ["session.ended"]}, "url"),
        ({"url": "https:///nohost", "events": ["session.ended"]}, "url"),
        ({"url": "https://8.8.8.8:99999/", "events": ["session.ended"]}, "url"),
        ({"url": "https://" + "a" * 2050, "events": ["session.ended"]}, "url"),
    ],
)
async def test_create_refuses_bad_input(api: Harness, body: dict, field: str) -> None:
    response = await api.post("/v1/webhooks", body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",  # loopback
        "http://localhost/hook",  # a name that resolves to loopback
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",  # IPv4-mapped loopback
        "http://169.254.169.254/latest/meta-data",  # link-local: cloud metadata
        "http://10.1.2.3/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.10/hook",
        "http://100.64.0.1/hook",  # shared address space (carrier NAT)
        "http://0.0.0.0/hook",
        "http://no-such-host.invalid/hook",  # does not resolve
    ],
)
async def test_private_and_unresolvable_targets_are_refused(api: Harness, url: str) -> None:
    response = await api.post("/v1/webhooks", {"url": url, "events": ["session.ended"]})
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["field"] == "url" and problem["code"] == "webhook_target_refused"
    assert (await api.get("/v1/webhooks")).json()["items"] == []


async def test_private_targets_are_allowed_when_configured(sqlite_url: str) -> None:
    async with running_app(sqlite_url, webhook_allow_private=True) as api:
        response = await api.post(
            "/v1/webhooks", {"url": "http://localhost:9/hook", "events": ["session.ended"]}
        )
        assert response.status_code == 201


async def test_tenants_see_only_their_webhooks_and_messages(
    hooks_sqlite: Harness, receiver: Receiver
) -> None:
    api = hooks_sqlite
    mine = await register(api, receiver.url("/mine"), ["session.started"])
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    theirs = (
        await api.client.post(
            "/v1/webhooks",
            json={"url": receiver.url("/theirs"), "events": ["session.started"]},
            headers=other,
        )
    ).json()

    listed = (await api.client.get("/v1/webhooks", headers=other)).json()["items"]
    assert [h["id"] for h in listed] == [theirs["id"]]
    base = f"/v1/webhooks/{mine['id']}"
    assert (await api.client.get(base, headers=other)).status_code == 404
    assert (await api.client.get(f"{base}/deliveries", headers=other)).status_code == 404
    assert (await api.client.post(f"{base}/rotate", headers=other)).status_code == 404
    assert (await api.client.delete(base, headers=other)).status_code == 404

    await start(api, "mine-1")
    response = await api.client.post(
        "/v1/sessions", json={"id": "theirs-1", "user_id": "u", "kind": "k"}, headers=other
    )
    assert response.status_code == 201
    await deliver(api)
    by_path = {m.path: m.json["data"]["session_id"] for m in receiver.messages()}
    assert by_path == {"/mine": "mine-1", "/theirs": "theirs-1"}
    [delivery] = await deliveries(api, mine["id"])
    retry = f"{base}/deliveries/{delivery['id']}/retry"
    assert (await api.client.post(retry, headers=other)).status_code == 404
    assert (await api.get(f"{base}")).json()["status"] == "enabled"  # untouched


async def test_webhooks_need_an_admin_key(api: Harness) -> None:
    for scope in ("read", "ingest"):
        assert (await api.get("/v1/webhooks", scope=scope)).status_code == 403
        body = {"url": PUBLIC, "events": ["session.ended"]}
        assert (await api.post("/v1/webhooks", body, scope=scope)).status_code == 403
    assert (await api.client.get("/v1/webhooks")).status_code == 401


async def test_at_most_a_fixed_number_of_endpoints(api: Harness) -> None:
    for _ in range(MAX_ENDPOINTS):
        await register(api, PUBLIC)
    over = await api.post("/v1/webhooks", {"url": PUBLIC, "events": ["session.ended"]})
    assert over.status_code == 409 and over.json()["code"] == "webhook_limit"
    first = (await api.get("/v1/webhooks")).json()["items"][0]["id"]
    assert (await api.client.delete(f"/v1/webhooks/{first}", headers=api.auth())).status_code == 204
    assert (await register(api, PUBLIC))["status"] == "enabled"


async def test_unknown_ids_are_404(api: Harness) -> None:
    hook = await register(api, PUBLIC)
    for path in (
        "/v1/webhooks/wh_NOPE",
        "/v1/webhooks/wh_01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/v1/webhooks/wh_01ARZ3NDEKTSV4RRFFQ69G5FAV/deliveries",
    ):
        assert (await api.get(path)).status_code == 404, path
    missing = f"/v1/webhooks/{hook['id']}/deliveries/msg_01ARZ3NDEKTSV4RRFFQ69G5FAV/retry"
    assert (await api.post(missing)).status_code == 404
    assert (await api.post("/v1/webhooks/wh_x%00/rotate")).status_code == 404


async def test_deliveries_page_and_filter(hooks_sqlite: Harness, receiver: Receiver) -> None:
    api = hooks_sqlite
    receiver.answer(200, 200, 500)
    hook = await register(api, receiver.url(), ["session.started"])
    for i in range(5):
        await start(api, f"s{i}")
        await deliver(api)
    page = (await api.get(f"/v1/webhooks/{hook['id']}/deliveries", limit=2)).json()
    seen = [d["payload"]["data"]["session_id"] for d in page["items"]]
    while page["next_cursor"]:
        page = (
            await api.get(
                f"/v1/webhooks/{hook['id']}/deliveries", limit=2, cursor=page["next_cursor"]
            )
        ).json()
        seen += [d["payload"]["data"]["session_id"] for d in page["items"]]
    assert seen == ["s4", "s3", "s2", "s1", "s0"]  # newest first
    delivered = await deliveries(api, hook["id"], status="delivered")
    assert [d["payload"]["data"]["session_id"] for d in delivered] == ["s1", "s0"]
    assert all(d["webhook_id"] == hook["id"] for d in delivered)
    bad = await api.get(f"/v1/webhooks/{hook['id']}/deliveries", cursor="bm9wZQ")
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"
    bad = await api.get(f"/v1/webhooks/{hook['id']}/deliveries", status="lost")
    assert bad.status_code == 422 and bad.json()["field"] == "status"


async def test_the_reference_library_verifies_a_delivery(
    sqlite_url: str, receiver: Receiver
) -> None:
    """On a clock at the real time, ``standardwebhooks``' own ``verify`` (which also checks
    the timestamp against now) accepts the message as received."""
    clock = ManualClock(time.time_ns() // 1_000_000)
    async with running_app(sqlite_url, clock, webhook_allow_private=True) as api:
        hook = await register(api, receiver.url(), ["session.started"])
        await start(api, "live")
        await deliver(api)
    [message] = receiver.messages()
    payload = Webhook(hook["secret"]).verify(message.body, message.headers)
    assert payload["data"]["session_id"] == "live"
    with pytest.raises(Exception, match="signature"):
        Webhook(hook["secret"]).verify(message.body + b" ", message.headers)
