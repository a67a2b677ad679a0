"""Request and response bodies of the webhook endpoints."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StrictStr

from sessionkeeper.api.fields import TEXT_PATTERN, WriteBody
from sessionkeeper.domain.times import from_ms
from sessionkeeper.webhooks.rules import MAX_URL_LENGTH, DeliveryStatus
from sessionkeeper.webhooks.store import Delivery, Endpoint

EventType = Literal["session.started", "session.ended", "session.timed_out", "session.amended"]


def _distinct(events: list[str]) -> list[str]:
    if len(set(events)) != len(events):
        raise ValueError("each event type may be named once")
    return events


def _time(ms: int | None) -> datetime | None:
    return None if ms is None else from_ms(ms)


class WebhookCreate(WriteBody):
    url: Annotated[
        StrictStr,
        Field(
            min_length=1,
            max_length=MAX_URL_LENGTH,
            description="http:// or https:// URL that receives the POSTs",
            examples=["https://example.com/hooks/sessionkeeper"],
        ),
    ]
    events: Annotated[
        list[EventType],
        Field(min_length=1, max_length=4, examples=[["session.ended", "session.timed_out"]]),
        AfterValidator(_distinct),
    ]
    description: Annotated[StrictStr | None, Field(max_length=256, pattern=TEXT_PATTERN)] = None


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None = Field(description="Why the endpoint was disabled")
    created_at: datetime
    updated_at: datetime
    previous_secret_expires_at: datetime | None = Field(
        description="Until when the secret replaced by the last rotation still signs"
    )

    @staticmethod
    def values(endpoint: Endpoint) -> dict[str, Any]:
        return {
            "id": endpoint.id,
            "url": endpoint.url,
            "events": list(endpoint.events),
            "description": endpoint.description,
            "status": endpoint.status,
            "disabled_reason": endpoint.disabled_reason,
            "created_at": from_ms(endpoint.created_at),
            "updated_at": from_ms(endpoint.updated_at),
            "previous_secret_expires_at": _time(endpoint.previous_secret_expires_at),
        }

    @classmethod
    def of(cls, endpoint: Endpoint) -> WebhookOut:
        return cls(**cls.values(endpoint))


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…), shown only now")


class WebhookList(BaseModel):
    items: list[WebhookOut]


class WebhookSecret(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret (whsec_…), shown only now")
    previous_secret_expires_at: datetime | None = Field(
        description="The previous secret also signs until then"
    )


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id header: the same on every attempt")
    webhook_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int
    payload: dict[str, Any] = Field(description="The body sent")
    created_at: datetime
    next_attempt_at: datetime | None = Field(description="While pending: the next attempt")
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        pending = delivery.status is DeliveryStatus.PENDING
        return cls(
            id=delivery.id,
            webhook_id=delivery.endpoint_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            payload=json.loads(delivery.payload),
            created_at=from_ms(delivery.created_at),
            next_attempt_at=_time(delivery.next_attempt_at) if pending else None,
            last_attempt_at=_time(delivery.last_attempt_at),
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=_time(delivery.delivered_at),
        )


class DeliveryPage(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")
