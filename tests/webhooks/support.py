"""Shared steps of the webhook tests: register an endpoint, run the delivery job, read back."""

from __future__ import annotations

from typing import Any

from sessionkeeper.webhooks.service import WebhookService
from tests.support import Harness, ms

ALL_EVENTS = ["session.started", "session.ended", "session.timed_out", "session.amended"]


async def register(
    api: Harness, url: str, events: list[str] | None = None, scope: str = "admin"
) -> dict[str, Any]:
    response = await api.post("/v1/webhooks", {"url": url, "events": events or ALL_EVENTS}, scope)
    assert response.status_code == 201, response.text
    return dict(response.json())


def service(api: Harness) -> WebhookService:
    return api.services.of(WebhookService)


async def deliver(api: Harness) -> int:
    """One run of the delivery job, as the server runs it every second."""
    return await service(api).deliver_due()


async def deliveries(api: Harness, webhook_id: str, **params: object) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/webhooks/{webhook_id}/deliveries", **params)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def start(api: Harness, session_id: str, **body: object) -> dict[str, Any]:
    response = await api.post(
        "/v1/sessions", {"id": session_id, "user_id": "ann", "kind": "lesson", **body}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def next_attempt_ms(delivery: dict[str, Any]) -> int:
    return ms(delivery["next_attempt_at"])
