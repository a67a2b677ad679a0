"""Delivery end to end, on SQLite and PostgreSQL, to a real receiver on 127.0.0.1: signed
messages, retries on the spec's schedule with the same webhook-id, Retry-After, 410,
rotation, the outbox's transaction, restarts and concurrent claims. The scripted clock
drives the schedule."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from sessionkeeper.domain.events import SessionAmended
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.session import NewSession
from sessionkeeper.services.sessions import StartRequest
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.engine import create_engine
from sessionkeeper.storage.transaction import Transaction
from sessionkeeper.webhooks import rules, sender, store
from sessionkeeper.webhooks.tables import webhook_deliveries
from tests.support import T0, Harness, ms, running_app
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import (
    deliver,
    deliveries,
    next_attempt_ms,
    register,
    service,
    start,
)


def assert_within_jitter(delivery: dict, after: int, wait_s: float) -> None:
    """The next attempt lies at ``wait_s`` ±10 % after ``after``."""
    delay = next_attempt_ms(delivery) - after
    assert wait_s * 900 <= delay <= wait_s * 1100, (delay, wait_s)


async def test_signed_message_retried_with_the_same_id_until_accepted(
    hooks: Harness, receiver: Receiver
) -> None:
    receiver.answer(500, 503, 200)
    hook = await register(hooks, receiver.url(), ["session.started"])
    assert hook["secret"].startswith("whsec_")
    await start(hooks, "lesson-1", subject={"teacher_id": "t1"})

    assert await deliver(hooks) == 1
    first = receiver.messages()
    assert len(first) == 1 and first[0].signed_by(hook["secret"])
    assert first[0].timestamp == T0 // 1000  # the attempt's time, from the server's clock
    assert first[0].headers["content-type"] == "application/json"
    assert first[0].json == {
        "type": "session.started",
        "timestamp": "2026-01-05T09:00:00.000Z",
        "data": {
            "session_id": "lesson-1",
            "user_id": "ann",
            "kind": "lesson",
            "status": "active",
            "started_at": "2026-01-05T09:00:00.000Z",
            "ended_at": None,
            "duration_s": None,
        },
    }
    [pending] = await deliveries(hooks, hook["id"])
    assert pending["status"] == "pending" and pending["attempts"] == 1
    assert pending["last_status_code"] == 500
    assert_within_jitter(pending, T0, 5)

    # Not due yet: nothing is sent.
    hooks.clock.set(next_attempt_ms(pending) - 1)
    assert await deliver(hooks) == 0 and len(receiver.messages()) == 1

    hooks.clock.set(next_attempt_ms(pending))
    assert await deliver(hooks) == 1
    [second] = await deliveries(hooks, hook["id"])
    assert second["attempts"] == 2 and second["last_status_code"] == 503
    assert_within_jitter(second, next_attempt_ms(pending), 300)

    hooks.clock.set(next_attempt_ms(second))
    assert await deliver(hooks) == 1
    [done] = await deliveries(hooks, hook["id"])
    assert done["status"] == "delivered" and done["attempts"] == 3
    assert done["next_attempt_at"] is None and done["delivered_at"] is not None

    messages = receiver.messages()
    assert len(messages) == 3
    assert {m.webhook_id for m in messages} == {done["id"]}  # stable across retries
    assert all(m.signed_by(hook["secret"]) for m in messages)
    assert len({m.timestamp for m in messages}) == 3  # each attempt signed anew
    assert len({m.body for m in messages}) == 1  # the same bytes each time
    assert await deliver(hooks) == 0


async def test_each_endpoint_gets_the_events_it_chose(hooks: Harness, receiver: Receiver) -> None:
    ends = await register(hooks, receiver.url("/ends"), ["session.ended"])
    timeouts = await register(hooks, receiver.url("/timeouts"), ["session.timed_out"])
    await start(hooks, "a")
    await start(hooks, "b")
    hooks.advance(60)
    assert (await hooks.post("/v1/sessions/a/end", {})).status_code == 200
    hooks.advance(600)
    assert (await hooks.post("/v1/maintenance/sweep")).json()["closed"] == 1
    await deliver(hooks)

    [ended] = receiver.messages(lambda r: r.path == "/ends")
    assert ended.signed_by(ends["secret"]) and not ended.signed_by(timeouts["secret"])
    assert ended.json["type"] == "session.ended"
    assert ended.json["data"]["session_id"] == "a"
    assert ended.json["data"]["duration_s"] == 60.0
    assert ended.json["data"]["end_reason"] == "client"
    [timed_out] = receiver.messages(lambda r: r.path == "/timeouts")
    assert timed_out.json["type"] == "session.timed_out"
    data = timed_out.json["data"]
    assert (data["session_id"], data["status"], data["estimated"]) == ("b", "timed_out", True)
    assert data["ended_at"] == "2026-01-05T09:00:30.000Z"  # last seen + grace, not sweep time


async def test_nothing_is_written_or_sent_for_what_did_not_commit(
    hooks: Harness, receiver: Receiver
) -> None:
    hook = await register(hooks, receiver.url())
    tenant = hooks.services.tenants.operator("default")
    now = hooks.clock.now_ms()

    def start_then_fail(tx: Transaction) -> None:
        new = NewSession(
            id="rolled-back",
            user_id="u",
            kind="k",
            label=None,
            attributes={},
            started_at=now,
            timeout_ms=300_000,
            grace_ms=30_000,
            start_digest="x",
        )
        session_store.start(tx, tenant, new, now)
        raise RuntimeError("the op fails after its start")

    with pytest.raises(RuntimeError):
        await hooks.runtime.db.writer.run(start_then_fail)
    assert await deliveries(hooks, hook["id"]) == []
    assert await deliver(hooks) == 0 and receiver.messages() == []
    # The same transaction path does write the outbox when it commits.
    await hooks.services.sessions.start(tenant, StartRequest(user_id="u", kind="k", id="kept"))
    assert [d["payload"]["data"]["session_id"] for d in await deliveries(hooks, hook["id"])] == [
        "kept"
    ]


async def test_retry_after_is_honoured(hooks: Harness, receiver: Receiver) -> None:
    receiver.answer((429, {"Retry-After": "120"}), (503, {"Retry-After": "1"}), 200)
    hook = await register(hooks, receiver.url(), ["session.started"])
    await start(hooks, "s")
    await deliver(hooks)
    [first] = await deliveries(hooks, hook["id"])
    assert next_attempt_ms(first) == T0 + 120_000  # longer than the scheduled 5 s
    hooks.clock.set(next_attempt_ms(first))
    await deliver(hooks)
    [second] = await deliveries(hooks, hook["id"])
    assert_within_jitter(second, T0 + 120_000, 300)  # a shorter one does not cut the wait


async def test_gives_up_after_the_schedule(hooks: Harness, receiver: Receiver) -> None:
    receiver.answer(500)
    hook = await register(hooks, receiver.url(), ["session.started"])
    await start(hooks, "s")
    waits = []
    for attempt in range(1, rules.MAX_ATTEMPTS + 1):
        before = hooks.clock.now_ms()
        assert await deliver(hooks) == 1
        [delivery] = await deliveries(hooks, hook["id"])
        assert delivery["attempts"] == attempt
        if attempt < rules.MAX_ATTEMPTS:
            waits.append(next_attempt_ms(delivery) - before)
            hooks.clock.set(next_attempt_ms(delivery))
    assert delivery["status"] == "failed" and delivery["next_attempt_at"] is None
    for wait, scheduled in zip(waits, rules.RETRY_SCHEDULE_S, strict=True):
        assert scheduled * 900 <= wait <= scheduled * 1100
    hooks.advance(10 * 86400)
    assert await deliver(hooks) == 0 and len(receiver.messages()) == rules.MAX_ATTEMPTS

    # A manual retry is one more attempt now, with the same webhook-id.
    receiver.answer(200)
    retried = await hooks.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "pending"
    assert await deliver(hooks) == 1
    assert (await deliveries(hooks, hook["id"]))[0]["status"] == "delivered"
    assert {m.webhook_id for m in receiver.messages()} == {delivery["id"]}


async def test_410_disables_the_endpoint(hooks: Harness, receiver: Receiver) -> None:
    receiver.answer(410)
    hook = await register(hooks, receiver.url(), ["session.started"])
    await start(hooks, "s1")
    await deliver(hooks)
    endpoint = (await hooks.get(f"/v1/webhooks/{hook['id']}")).json()
    assert endpoint["status"] == "disabled" and "410" in endpoint["disabled_reason"]
    [delivery] = await deliveries(hooks, hook["id"])
    assert delivery["status"] == "failed" and delivery["last_status_code"] == 410

    await start(hooks, "s2")  # a disabled endpoint gets no more messages
    hooks.advance(3600)
    assert await deliver(hooks) == 0 and len(receiver.messages()) == 1
    assert len(await deliveries(hooks, hook["id"])) == 1
    retry = await hooks.post(f"/v1/webhooks/{hook['id']}/deliveries/{delivery['id']}/retry")
    assert retry.status_code == 409 and retry.json()["code"] == "webhook_disabled"


async def test_rotation_signs_with_both_secrets_for_a_day(
    hooks: Harness, receiver: Receiver
) -> None:
    hook = await register(hooks, receiver.url(), ["session.started"])
    rotated = await hooks.post(f"/v1/webhooks/{hook['id']}/rotate")
    assert rotated.status_code == 200
    new = rotated.json()
    assert new["secret"].startswith("whsec_") and new["secret"] != hook["secret"]
    assert ms(new["previous_secret_expires_at"]) == T0 + 86_400_000
    shown = (await hooks.get(f"/v1/webhooks/{hook['id']}")).json()
    assert "secret" not in shown and shown["previous_secret_expires_at"] is not None

    await start(hooks, "during")
    await deliver(hooks)
    [during] = receiver.messages()
    assert len(during.signatures()) == 2
    assert during.signed_by(hook["secret"]) and during.signed_by(new["secret"])

    hooks.advance(86_400)
    await start(hooks, "after")
    await deliver(hooks)
    after = receiver.messages()[-1]
    assert after.json["data"]["session_id"] == "after"
    assert len(after.signatures()) == 1
    assert after.signed_by(new["secret"]) and not after.signed_by(hook["secret"])


async def test_deleted_endpoint_gets_nothing_more_and_is_pruned(
    hooks: Harness, receiver: Receiver
) -> None:
    hook = await register(hooks, receiver.url())
    await start(hooks, "s")
    assert (
        await hooks.client.delete(f"/v1/webhooks/{hook['id']}", headers=hooks.auth())
    ).status_code == 204
    assert (await hooks.get(f"/v1/webhooks/{hook['id']}")).status_code == 404
    assert await deliver(hooks) == 0 and receiver.messages() == []
    await start(hooks, "t")
    assert await service(hooks).prune() == 1
    count = hooks.runtime.db.reader.run_sync(
        lambda conn: conn.execute(
            sa.select(sa.func.count()).select_from(webhook_deliveries)
        ).scalar_one()
    )
    assert count == 0
    assert (
        await hooks.client.delete(f"/v1/webhooks/{hook['id']}", headers=hooks.auth())
    ).status_code == 404


async def test_prune_keeps_pending_and_recent_deliveries(
    hooks: Harness, receiver: Receiver
) -> None:
    receiver.answer(200, 500)
    hook = await register(hooks, receiver.url(), ["session.started"])
    await start(hooks, "delivered")
    await deliver(hooks)
    await start(hooks, "pending")
    await deliver(hooks)
    assert await service(hooks).prune() == 0
    hooks.advance(31 * 86400)
    assert await service(hooks).prune() == 1  # the delivered one; the pending one stays
    [left] = await deliveries(hooks, hook["id"])
    assert left["payload"]["data"]["session_id"] == "pending"


async def test_a_restart_mid_retry_loses_no_delivery(db_url: str, receiver: Receiver) -> None:
    receiver.answer(503, 200)
    async with running_app(db_url, webhook_allow_private=True) as first:
        hook = await register(first, receiver.url(), ["session.started", "session.ended"])
        await start(first, "s")
        await deliver(first)
        [pending] = await deliveries(first, hook["id"])
        assert pending["status"] == "pending"
        # The end is written to the outbox; the server stops before sending it.
        await first.post("/v1/sessions/s/end", {})
        clock = first.clock

    clock.set(next_attempt_ms(pending))
    async with running_app(db_url, clock, webhook_allow_private=True) as second:
        assert await deliver(second) == 2
        items = await deliveries(second, hook["id"])
        assert [d["status"] for d in items] == ["delivered", "delivered"]
    by_id: dict[str, list[str]] = {}
    for message in receiver.messages():
        assert message.signed_by(hook["secret"])
        by_id.setdefault(message.webhook_id, []).append(message.json["type"])
    assert by_id == {
        pending["id"]: ["session.started", "session.started"],
        items[0]["id"]: ["session.ended"],
    }


async def test_an_attempt_lost_with_its_process_is_made_again(
    db_url: str, receiver: Receiver
) -> None:
    async with running_app(db_url, webhook_allow_private=True) as first:
        hook = await register(first, receiver.url(), ["session.started"])
        await start(first, "s")
        now = first.clock.now_ms()
        # Claimed, then the process dies before sending or recording anything.
        claimed = await first.runtime.db.writer.run(
            lambda tx: store.claim_due(tx.conn, now, limit=10, lease_ms=rules.CLAIM_LEASE_MS)
        )
        assert [c.attempts for c in claimed] == [1]
        clock = first.clock

    async with running_app(db_url, clock, webhook_allow_private=True) as second:
        assert await deliver(second) == 0  # still claimed by the lost attempt
        clock.advance(rules.CLAIM_LEASE_MS / 1000)
        assert await deliver(second) == 1
        [delivery] = await deliveries(second, hook["id"])
        assert delivery["status"] == "delivered" and delivery["attempts"] == 2
    assert [m.webhook_id for m in receiver.messages()] == [claimed[0].id]


async def test_two_claimers_never_take_the_same_delivery(
    hooks: Harness, receiver: Receiver
) -> None:
    """Two server processes claim at once: on PostgreSQL the second skips the rows the first
    holds locked; on SQLite it waits, then finds them no longer due."""
    await register(hooks, receiver.url(), ["session.started"])
    for i in range(30):
        await start(hooks, f"s{i}")
    now = hooks.clock.now_ms()
    url = hooks.runtime.settings.database_url
    engines = [create_engine(url, role="writer"), create_engine(url, role="writer")]
    taken: list[list[str]] = []
    first_holds = threading.Event()
    release = threading.Event()

    def claimer(hold: bool) -> None:
        with engines[hold].begin() as conn:
            claimed = store.claim_due(conn, now, limit=20, lease_ms=60_000)
            taken.append([c.id for c in claimed])
            if hold:
                first_holds.set()
                release.wait(10)

    first = threading.Thread(target=claimer, args=(True,))
    first.start()
    assert first_holds.wait(10)
    second = threading.Thread(target=claimer, args=(False,))
    second.start()
    if hooks.runtime.db.dialect == "postgresql":
        second.join(10)  # does not wait for the first: the locked rows are skipped
        assert not second.is_alive()
    release.set()
    first.join(10)
    second.join(10)
    for engine in engines:
        engine.dispose()
    assert len(taken) == 2 and len(taken[0]) == 20
    assert set(taken[0]).isdisjoint(taken[1])
    assert len(taken[0]) + len(taken[1]) == 30


async def test_private_targets_are_refused_when_delivering(
    sqlite_url: str, receiver: Receiver
) -> None:
    """An endpoint registered while private targets were allowed is refused once they are
    not: the check runs again for every attempt, on the address actually connected to."""
    async with running_app(sqlite_url, webhook_allow_private=True) as first:
        hook = await register(first, receiver.url(), ["session.started"])
        clock = first.clock
    async with running_app(sqlite_url, clock) as second:
        await start(second, "s")
        assert await deliver(second) == 1
        [delivery] = await deliveries(second, hook["id"])
    assert receiver.messages() == []
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert "refused" in delivery["last_error"] and "loopback" in delivery["last_error"]


async def test_the_request_goes_to_the_checked_address_with_the_name_as_host(
    hooks_sqlite: Harness, receiver: Receiver
) -> None:
    port = receiver.base_url.rsplit(":", 1)[1]
    hook = await register(hooks_sqlite, f"http://localhost:{port}/named?x=1", ["session.started"])
    await start(hooks_sqlite, "s")
    assert await deliver(hooks_sqlite) == 1
    [message] = receiver.messages()
    assert message.headers["host"] == f"localhost:{port}"
    assert message.path == "/named?x=1" and message.signed_by(hook["secret"])
    assert message.headers["user-agent"] == "sessionkeeper-webhooks"


async def test_a_slow_receiver_is_a_failed_attempt(
    hooks_sqlite: Harness, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The limit is 15 s; shortened here so that the test does not wait that long.
    monkeypatch.setattr(sender, "ATTEMPT_TIMEOUT_S", 0.3)
    receiver.delay_s = 1.0
    hook = await register(hooks_sqlite, receiver.url(), ["session.started"])
    await start(hooks_sqlite, "s")
    assert await deliver(hooks_sqlite) == 1
    [delivery] = await deliveries(hooks_sqlite, hook["id"])
    assert delivery["status"] == "pending" and delivery["last_status_code"] is None
    assert delivery["last_error"].startswith("no answer within")
    assert_within_jitter(delivery, T0, 5)


async def test_amendments_are_sent_too(hooks: Harness, receiver: Receiver) -> None:
    """``session.amended`` comes from the kernel's late-evidence corrections; whichever write
    records the event, the outbox row is written in its transaction."""
    hook = await register(hooks, receiver.url(), ["session.amended"])
    await start(hooks, "s")
    tenant = hooks.services.tenants.operator("default")
    amended = SessionAmended(
        tenant.tenant_id, "s", "ann", "lesson", Status.ENDED, T0, T0 + 60_000, T0 + 90_000
    )
    await hooks.runtime.db.writer.run(lambda tx: tx.record(amended))
    assert await deliver(hooks) == 1
    [message] = receiver.messages()
    assert message.signed_by(hook["secret"]) and message.json["type"] == "session.amended"
    data = message.json["data"]
    assert (data["previous_ended_at"], data["ended_at"], data["duration_s"]) == (
        "2026-01-05T09:01:00.000Z",
        "2026-01-05T09:01:30.000Z",
        90.0,
    )
