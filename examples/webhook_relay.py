"""Relay sessionkeeper webhooks to Telegram and/or Slack.

A small receiver: it verifies each message's Standard Webhooks signature, answers at once,
skips a ``webhook-id`` it has already relayed (a retry), and posts one line per session to a
Telegram chat (``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_CHAT_ID``) and/or a Slack incoming webhook
(``SLACK_WEBHOOK_URL``). When the chat service fails it answers 502, so sessionkeeper tries
again later with the same ``webhook-id``.

    pip install sessionkeeper            # brings httpx and standardwebhooks
    export WEBHOOK_SECRET=whsec_…        # printed once by POST /v1/webhooks
    export TELEGRAM_BOT_TOKEN=… TELEGRAM_CHAT_ID=…   # and/or SLACK_WEBHOOK_URL=…
    python examples/webhook_relay.py     # listens on 127.0.0.1:8787 (RELAY_PORT)
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from standardwebhooks import Webhook, WebhookVerificationError

RECENT = 10_000  # webhook-ids remembered, to skip retries already relayed


def describe(message: dict[str, Any]) -> str:
    """One line for a chat: who, what, how long."""
    data = message["data"]
    who = f"{data['user_id']} ({data['kind']})"
    minutes = None if data.get("duration_s") is None else round(data["duration_s"] / 60)
    if message["type"] == "session.started":
        return f"▶ {who} started at {data['started_at']}"
    if message["type"] == "session.timed_out":
        return f"⏱ {who} went silent; counted {minutes} min (estimated end)"
    if message["type"] == "session.amended":
        return f"✎ {who}: corrected to {minutes} min"
    return f"■ {who} ended after {minutes} min"


def send_to_chats(text: str) -> None:
    with httpx.Client(timeout=10) as client:
        token, chat = os.environ.get("TELEGRAM_BOT_TOKEN"), os.environ.get("TELEGRAM_CHAT_ID")
        if token and chat:
            client.post(
                f"https://api.telegram.org/bot{token}/sendMessage",
                json={"chat_id": chat, "text": text},
            ).raise_for_status()
        slack = os.environ.get("SLACK_WEBHOOK_URL")
        if slack:
            client.post(slack, json={"text": text}).raise_for_status()


class Relay(BaseHTTPRequestHandler):
    webhook: Webhook  # set from WEBHOOK_SECRET before serving
    relayed: OrderedDict[str, None] = OrderedDict()
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            # Checks the signature against the exact bytes and the timestamp's freshness.
            message = self.webhook.verify(body, dict(self.headers.items()))
        except WebhookVerificationError:
            return self.answer(401)
        message_id = self.headers["webhook-id"]
        with self.lock:
            seen = message_id in self.relayed
        if seen:
            return self.answer(204)  # a retry of one already relayed
        try:
            send_to_chats(describe(message))
        except httpx.HTTPError:
            return self.answer(502)  # sessionkeeper retries later, same webhook-id
        with self.lock:
            self.relayed[message_id] = None
            if len(self.relayed) > RECENT:
                self.relayed.popitem(last=False)
        self.answer(204)

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("content-length", "0")
        self.end_headers()


def serve(secret: str, port: int) -> ThreadingHTTPServer:
    Relay.webhook = Webhook(secret)
    return ThreadingHTTPServer(("127.0.0.1", port), Relay)


if __name__ == "__main__":
    port = int(os.environ.get("RELAY_PORT", "8787"))
    server = serve(os.environ["WEBHOOK_SECRET"], port)
    print(f"relaying webhooks from http://127.0.0.1:{port}/")
    server.serve_forever()
