from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support import Harness, running_app
from tests.webhooks.receiver import Receiver, receiving


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as receiver:
        yield receiver


@pytest.fixture
async def hooks(db_url: str) -> AsyncIterator[Harness]:
    """The app on each backend, with webhooks to 127.0.0.1 allowed (the receiver is local)."""
    async with running_app(db_url, webhook_allow_private=True) as harness:
        yield harness


@pytest.fixture
async def hooks_sqlite(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url, webhook_allow_private=True) as harness:
        yield harness
