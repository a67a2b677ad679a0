"""The webhook jobs: delivering what is due (often), pruning what is done with (hourly)."""

from __future__ import annotations

from collections.abc import Sequence

from sessionkeeper.jobs.job import Job
from sessionkeeper.webhooks.service import WebhookService

PRUNE_INTERVAL_S = 3600.0


def jobs(service: WebhookService) -> Sequence[Job]:
    return (
        Job("webhooks.deliver", service.rt.settings.webhook_poll_interval_s, service.deliver_due),
        Job("webhooks.prune", PRUNE_INTERVAL_S, service.prune),
    )
