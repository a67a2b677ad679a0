"""The product assembled: the session kernel and the list of its features.

This is the one module that names every feature. Servers, the CLI and the tests build the
app and the services through it, so all of them run the same product.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sessionkeeper import (
    admin,
    dashboard,
    events,
    learning,
    links,
    logs,
    quality,
    rollups,
    rooms,
    settings,
    webhooks,
)
from sessionkeeper.api.app import build_app
from sessionkeeper.api.express import ExpressApp
from sessionkeeper.config import Settings
from sessionkeeper.feature import Feature
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime

# In the order their routers, jobs and subscribers are added.
FEATURES: list[Feature[Any]] = [
    settings.FEATURE,
    events.FEATURE,
    rollups.FEATURE,
    webhooks.FEATURE,
    rooms.FEATURE,
    admin.FEATURE,
    quality.FEATURE,
    dashboard.FEATURE,
    learning.FEATURE,
    links.FEATURE,
]


def create_app(
    runtime: Runtime, *, run_jobs: bool = True, migrate: bool = True, serving: bool = False
) -> ExpressApp:
    """The product's app. ``serving``: this process exists to serve it (``sessionkeeper
    serve``), so start-up may tune the process itself (see ``api/heap.py``)."""
    return build_app(runtime, FEATURES, run_jobs=run_jobs, migrate=migrate, serving=serving)


def app_from_settings() -> FastAPI:
    """The app of one worker process of ``sessionkeeper serve --workers N``: settings from the
    environment; the parent process has applied the migrations already."""
    settings = Settings()
    logs.configure(settings.log_level, settings.log_format)
    return create_app(Runtime.open(settings), migrate=False, serving=True)


def build_services(runtime: Runtime) -> Services:
    return Services.build(runtime, FEATURES)
