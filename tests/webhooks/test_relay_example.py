"""The relay recipe of docs/webhooks.md, run for real: sessionkeeper → the example relay on
127.0.0.1 → a stand-in for Slack's incoming webhook (the receiver), with the relay checking
signatures with the reference library and skipping retries it already relayed."""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from types import ModuleType

import pytest

from sessionkeeper.clock import ManualClock
from tests.support import iso, running_app
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import deliver, deliveries, register, start

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webhook_relay.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_relay", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_relay_posts_one_line_per_session_to_slack(
    sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    relay = load_example()
    monkeypatch.setenv("SLACK_WEBHOOK_URL", receiver.url("/slack"))
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    receiver.answer(500, 200)  # Slack fails once: the relay answers 502, and is retried
    clock = ManualClock(time.time_ns() // 1_000_000)  # the relay checks timestamps: real time
    async with running_app(sqlite_url, clock, webhook_allow_private=True) as api:
        server = relay.serve("whsec_" + "A" * 43 + "=", 0)  # replaced once registered
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}/"
            hook = await register(api, url, ["session.ended"])
            relay.Relay.webhook = relay.Webhook(hook["secret"])
            # The lesson tracker's policy: beats every 30 s, silent lessons end after 2 h.
            policy = {"heartbeat_interval_s": 30, "timeout_s": 7200}
            assert (await api.put("/v1/policies/lesson", policy)).status_code == 200
            # Begun 45 min ago: the clock stays at the real time the relay checks against.
            began = iso(clock.now_ms() - 45 * 60_000)
            await start(api, "lesson-7", subject={"teacher_id": "t1"}, started_at=began)
            await api.post("/v1/sessions/lesson-7/end", {})
            await deliver(api)
            [failed] = await deliveries(api, hook["id"])
            assert failed["last_status_code"] == 502
            clock.advance(10)
            await deliver(api)
            [done] = await deliveries(api, hook["id"])
            assert done["status"] == "delivered"
        finally:
            server.shutdown()
            server.server_close()
    posted = [m.json for m in receiver.messages()]
    assert posted == [{"text": "■ ann (lesson) ended after 45 min"}] * 2
