"""Webhook endpoints: register, list, read, delete, rotate the secret; deliveries and retries.

Every route needs an admin key: endpoints hold URLs and secrets of the tenant.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated

from fastapi import Query, Response

from sessionkeeper.api.deps import AdminScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.public_ids import IdsDep
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.public_ids import IdPermutation
from sessionkeeper.errors import InvalidInput, NotFound
from sessionkeeper.webhooks.rules import DeliveryStatus
from sessionkeeper.webhooks.schemas import (
    DeliveryOut,
    DeliveryPage,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookSecret,
)
from sessionkeeper.webhooks.service import WebhookService

router = api_router(
    prefix="/v1/webhooks",
    tags=["webhooks"],
    responses=PROBLEM_RESPONSES,
    route_class=StrictJSONRoute,
)

MAX_PAGE = 200
# Ids this server makes: a prefix, then 26 characters of Crockford base32.
_ID = re.compile(r"[a-z]{2,4}_[0-9A-Z]{26}")


def _webhooks(services: ServicesDep) -> WebhookService:
    return services.of(WebhookService)


def _known_shape(value: str, what: str) -> str:
    """No id of another shape exists; say so before asking the database."""
    if not _ID.fullmatch(value):
        raise NotFound(f"no {what} '{value}'")
    return value


# A cursor is the public id (``domain/public_ids.py``) of the page's last delivery: the
# deliveries of every tenant share one sequence, which a cursor must not count.
def encode_cursor(ids: IdPermutation, seq: int | None) -> str | None:
    if seq is None:
        return None
    return base64.urlsafe_b64encode(str(ids.public(seq)).encode()).decode()


def decode_cursor(ids: IdPermutation, value: str | None) -> int | None:
    if not value:
        return None
    try:
        text = base64.urlsafe_b64decode(value.encode()).decode()
        seq = ids.row(int(text)) if text.isascii() and text.isdigit() and len(text) <= 16 else None
    except (ValueError, binascii.Error, UnicodeError):
        seq = None
    if seq is None:
        raise InvalidInput("cursor is not one this server issued", field="cursor")
    return seq


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, principal: AdminScope, services: ServicesDep
) -> WebhookCreated:
    """Register an endpoint. The answer holds its signing secret, shown only this once."""
    created = await _webhooks(services).create(principal, body.url, body.events, body.description)
    return WebhookCreated(**WebhookOut.values(created.endpoint), secret=created.secret)


@router.get("", response_model=WebhookList)
async def list_webhooks(principal: AdminScope, services: ServicesDep) -> WebhookList:
    endpoints = await _webhooks(services).endpoints(principal)
    return WebhookList(items=[WebhookOut.of(endpoint) for endpoint in endpoints])


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: str, principal: AdminScope, services: ServicesDep) -> WebhookOut:
    endpoint = await _webhooks(services).get(principal, _known_shape(webhook_id, "webhook"))
    return WebhookOut.of(endpoint)


@router.delete("/{webhook_id}", status_code=204, response_class=Response)
async def delete_webhook(webhook_id: str, principal: AdminScope, services: ServicesDep) -> Response:
    """Stop sending to the endpoint; its pending deliveries are dropped."""
    await _webhooks(services).delete(principal, _known_shape(webhook_id, "webhook"))
    return Response(status_code=204)


@router.post("/{webhook_id}/rotate", response_model=WebhookSecret)
async def rotate_secret(
    webhook_id: str, principal: AdminScope, services: ServicesDep
) -> WebhookSecret:
    """A new signing secret, shown only now. For 24 h messages are signed with both the new
    and the replaced secret, so the receiver can switch without missing any."""
    rotated = await _webhooks(services).rotate(principal, _known_shape(webhook_id, "webhook"))
    expires = WebhookOut.values(rotated.endpoint)["previous_secret_expires_at"]
    return WebhookSecret(
        id=rotated.endpoint.id, secret=rotated.secret, previous_secret_expires_at=expires
    )


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: str,
    principal: AdminScope,
    services: ServicesDep,
    ids: IdsDep,
    status: DeliveryStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> DeliveryPage:
    """The endpoint's deliveries, newest first."""
    page, next_seq = await _webhooks(services).deliveries(
        principal,
        _known_shape(webhook_id, "webhook"),
        status=status,
        before_seq=decode_cursor(ids.deliveries, cursor),
        limit=limit,
    )
    return DeliveryPage(
        items=[DeliveryOut.of(delivery) for delivery in page],
        next_cursor=encode_cursor(ids.deliveries, next_seq),
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry", status_code=202, response_model=DeliveryOut
)
async def retry_delivery(
    webhook_id: str, delivery_id: str, principal: AdminScope, services: ServicesDep
) -> DeliveryOut:
    """Attempt the delivery again now, with the same ``webhook-id``, whatever its status."""
    delivery = await _webhooks(services).retry(
        principal,
        _known_shape(webhook_id, "webhook"),
        _known_shape(delivery_id, "delivery"),
    )
    return DeliveryOut.of(delivery)
