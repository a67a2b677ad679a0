"""Typed results of webhooks and their deliveries (unknown fields are ignored)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sessionkeeper.client.models import Json, parse_time, time_or_none


@dataclass(frozen=True, slots=True)
class Webhook:
    """A registered endpoint; ``status`` is ``enabled`` or ``disabled`` (it answered 410)."""

    id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    status: str
    disabled_reason: str | None
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> Webhook:
        return cls(**_webhook(data))


def _webhook(data: Json) -> dict[str, Any]:
    return {
        "id": data["id"],
        "url": data["url"],
        "events": tuple(data["events"]),
        "description": data.get("description"),
        "status": data["status"],
        "disabled_reason": data.get("disabled_reason"),
        "created_at": parse_time(data["created_at"]),
        "updated_at": parse_time(data["updated_at"]),
        "previous_secret_expires_at": time_or_none(data.get("previous_secret_expires_at")),
    }


@dataclass(frozen=True, slots=True)
class WebhookCreated(Webhook):
    """A new endpoint with its signing ``secret`` (``whsec_…``), which is shown only once."""

    secret: str

    @classmethod
    def from_json(cls, data: Json) -> WebhookCreated:
        return cls(**_webhook(data), secret=data["secret"])


@dataclass(frozen=True, slots=True)
class WebhookSecret:
    """A rotated secret, shown only once; the previous one signs too until the given time."""

    id: str
    secret: str
    previous_secret_expires_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> WebhookSecret:
        return cls(
            id=data["id"],
            secret=data["secret"],
            previous_secret_expires_at=time_or_none(data.get("previous_secret_expires_at")),
        )


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one endpoint; ``id`` is its ``webhook-id``, the same on every attempt.
    ``status``: ``pending``, ``delivered`` or ``failed``."""

    id: str
    webhook_id: str
    event_type: str
    status: str
    attempts: int
    payload: Mapping[str, Any]
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def from_json(cls, data: Json) -> Delivery:
        return cls(
            id=data["id"],
            webhook_id=data["webhook_id"],
            event_type=data["event_type"],
            status=data["status"],
            attempts=data["attempts"],
            payload=dict(data["payload"]),
            created_at=parse_time(data["created_at"]),
            next_attempt_at=time_or_none(data.get("next_attempt_at")),
            last_attempt_at=time_or_none(data.get("last_attempt_at")),
            last_status_code=data.get("last_status_code"),
            last_error=data.get("last_error"),
            delivered_at=time_or_none(data.get("delivered_at")),
        )


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """Deliveries newest first; ``next_cursor`` is None on the last page."""

    items: tuple[Delivery, ...]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: Json) -> DeliveryPage:
        return cls(
            items=tuple(Delivery.from_json(item) for item in data["items"]),
            next_cursor=data.get("next_cursor"),
        )


def webhooks_from_json(data: Json) -> tuple[Webhook, ...]:
    return tuple(Webhook.from_json(item) for item in data["items"])
