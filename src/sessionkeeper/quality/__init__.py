"""The data-quality report (``GET /v1/metrics/quality``): how a tenant's sessions ended and
how sure their durations are. See ``docs/quality.md``."""

from __future__ import annotations

from sessionkeeper.feature import Feature
from sessionkeeper.quality.routes import router
from sessionkeeper.quality.service import QualityService

FEATURE: Feature[QualityService] = Feature(
    name="quality",
    build=lambda services: QualityService(services.runtime),
    routers=[router],
)
