"""Fixtures of the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sessionkeeper.storage.database import Database
from tests.support import settings_for


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    """A migrated database of each backend, with the service's writer and readers."""
    db = Database(settings_for(db_url))
    db.migrate()
    yield db
    db.close()
