"""Signed webhooks (Standard Webhooks 1.0) for session changes.

Endpoints registered with ``POST /v1/webhooks`` receive ``session.started``,
``session.ended``, ``session.timed_out`` and ``session.amended`` messages, signed with the
endpoint's ``whsec_`` secret. Each change writes its deliveries into an outbox in the same
transaction (nothing is sent for what did not commit, nothing is lost on a restart); a job
sends them with retries. See ``docs/webhooks.md``.
"""

from __future__ import annotations

from sessionkeeper.feature import Feature, Subscriptions
from sessionkeeper.services.container import Services
from sessionkeeper.webhooks import tables as tables
from sessionkeeper.webhooks.jobs import jobs
from sessionkeeper.webhooks.routes import router
from sessionkeeper.webhooks.service import WebhookService


def _build(services: Services) -> WebhookService:
    return WebhookService(services.runtime)


def _subscriptions(service: WebhookService) -> Subscriptions:
    return Subscriptions(in_transaction=(service.write_outbox,))


FEATURE: Feature[WebhookService] = Feature(
    name="webhooks",
    build=_build,
    routers=(router,),
    jobs=jobs,
    subscriptions=_subscriptions,
)
