"""The client against a real server: gzip snapshots, summaries, the admin API, and the
request id of an error."""

from __future__ import annotations

from typing import Any

import pytest

from sessionkeeper.client import (
    AsyncClient,
    AsyncPresenceReporter,
    Client,
    Forbidden,
    NotFound,
    PresenceReporter,
    PresenceSummary,
)
from tests.client.live import FAST, LiveServer, Tenant, await_until, wait_until


def entries(n: int) -> list[dict[str, Any]]:
    return [
        {
            "user_id": f"user-{i}",
            "kind": "voice",
            "label": f"Channel {i % 9}",
            "attributes": {"self_mute": i % 2 == 0, "guild_id": "312345678901234567"},
        }
        for i in range(n)
    ]


def test_a_large_snapshot_sent_gzipped_with_a_summary(base_url: str, tenant: Tenant) -> None:
    big = entries(10_000)
    # 10,000 starts can outlast FAST's 5 s answer wait on a loaded machine; a retry of the
    # landed snapshot would then count them as refreshed.
    with Client(base_url, tenant.admin, **{**FAST, "timeout": 60}) as client:
        summary = client.presence_snapshot_summary("bot", big, compress=True)
        assert isinstance(summary, PresenceSummary) and summary.started_count == 10_000
        full = client.presence_snapshot("bot", big[:10], compress=True)
        assert full.ended_count == 9_990 and len(full.to_end) == 9_990
        changes = client.presence_changes("bot", joins=big[10:20], compress=True)
        assert changes.started_count == 10


def test_the_reporter_sends_gzip_and_asks_for_counts_only(client: Client) -> None:
    with PresenceReporter(
        client, "gateway", lambda: entries(3_000), every=60, compress=True, summary=True
    ) as reporter:
        wait_until(lambda: reporter.reports >= 1, timeout=30)
    assert isinstance(reporter.last_result, PresenceSummary)
    assert reporter.last_result.started_count == 3_000
    active = client.list(source="gateway", limit=500)
    assert len(active.items) == 500 and active.next_cursor is not None


async def test_the_async_reporter_sends_gzip(aclient: AsyncClient) -> None:
    reporter = AsyncPresenceReporter(
        aclient, "async-gateway", lambda: entries(50), every=60, compress=True, summary=True
    )
    async with reporter:
        await await_until(lambda: reporter.reports >= 1, timeout=30)
    assert isinstance(reporter.last_result, PresenceSummary)
    assert reporter.last_result.started_count == 50


def test_admin_keys_through_the_client(client: Client, base_url: str) -> None:
    new = client.create_key("read")
    assert new.key.startswith(new.prefix) and new.scope == "read"
    assert new.id in [k.id for k in client.keys().items]
    with Client(base_url, new.key, **FAST) as reader:
        assert reader.list().items == ()
        with pytest.raises(Forbidden) as refused:
            reader.create_key("admin")
        assert refused.value.request_id is not None
    revoked = client.revoke_key(new.id)
    assert revoked.revoked_at is not None
    with pytest.raises(NotFound):
        client.revoke_key(10**6)


def test_the_operator_client_names_its_tenant(live_server: LiveServer, tenant: Tenant) -> None:
    _, operator_key = live_server.services.tenants.create_operator_key()
    with Client(live_server.base_url, operator_key, **FAST) as operator:
        made = operator.create_tenant(f"t-op-{tenant.name[2:]}")
        assert made.admin_key.key.startswith("sk_")
        assert made.name in [t.name for t in operator.tenants(limit=500).items]
    with Client(live_server.base_url, operator_key, tenant=tenant.name, **FAST) as acting:
        started = acting.start("u", "game", label="operator")
        with Client(live_server.base_url, tenant.read, **FAST) as reader:
            assert reader.get(started.id).label == "operator"
