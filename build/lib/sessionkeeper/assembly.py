"""The product assembled: the session kernel and the list of its features.

This is the one module that names every feature. Servers, the CLI and the tests build the
app and the services through it, so all of them run the same product.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from sessionkeeper import admin
from sessionkeeper.api.app import build_app
from sessionkeeper.feature import Feature
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime

# In the order their routers, jobs and subscribers are added.
FEATURES: list[Feature[Any]] = [
    admin.feature,
]


def create_app(runtime: Runtime, *, run_jobs: bool = True, migrate: bool = True) -> FastAPI:
    return build_app(runtime, FEATURES, run_jobs=run_jobs, migrate=migrate)


def build_services(runtime: Runtime) -> Services:
    return Services.build(runtime, FEATURES)
