"""A serving process stops walking its start-up heap in full collections (``api/heap.py``);
an app that tests build and throw away leaves the collector as it was."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from sessionkeeper.assembly import create_app
from sessionkeeper.services.runtime import Runtime
from tests.support import settings_for


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # what a test froze must not outlive it


async def _start(url: str, *, serving: bool) -> int:
    """The frozen objects while the app runs."""
    runtime = Runtime.open(settings_for(url))
    app = create_app(runtime, run_jobs=False, serving=serving)
    try:
        async with app.router.lifespan_context(app):
            return gc.get_freeze_count()
    finally:
        runtime.close()


async def test_a_serving_app_freezes_what_start_up_left(sqlite_url: str, unfrozen: None) -> None:
    frozen = await _start(sqlite_url, serving=True)
    # The modules, routes and validators of a started app: far more than a handful.
    assert frozen > 50_000


async def test_an_app_not_serving_freezes_nothing(sqlite_url: str, unfrozen: None) -> None:
    assert await _start(sqlite_url, serving=False) == 0
