from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis

from tests.processes import Servers
from tests.support import (
    OPERATOR_KEY,
    REDIS_URL,
    Harness,
    create_pg_database,
    drop_pg_database,
    empty_database,
    postgres_available,
    running_app,
)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One throwaway PostgreSQL database for the run, dropped at the end.

    Without PostgreSQL the tests that need it skip locally; under CI=true they fail.
    """
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 and CI=true")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def pg_url(pg_database: str) -> str:
    """The run's PostgreSQL database, emptied (schema kept) for this test."""
    from sessionkeeper.config import Settings
    from sessionkeeper.storage.database import Database

    database = Database(Settings(database_url=pg_database))
    database.migrate()
    database.close()
    empty_database(pg_database)
    return pg_database


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'sessionkeeper.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs once per backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'sessionkeeper.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
async def api(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url) as harness:
        yield harness


@pytest.fixture
async def api_any(db_url: str) -> AsyncIterator[Harness]:
    """The app on each backend in turn."""
    async with running_app(db_url) as harness:
        yield harness


@pytest.fixture
async def api_op(db_url: str) -> AsyncIterator[Harness]:
    """The app on each backend in turn, with the operator key ``OPERATOR_KEY``."""
    async with running_app(db_url, operator_key=OPERATOR_KEY) as harness:
        yield harness


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[Servers]:
    """Servers on a SQLite file of the test's own."""
    handle = Servers(tmp_path)
    yield handle
    handle.stop_all()


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    """A key prefix of this test's own on the real Redis; its keys are deleted afterwards.

    Without Redis the tests that need it skip locally; under CI=true they fail."""
    name = f"sk-test-{uuid.uuid4().hex[:12]}:"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except (redis.RedisError, OSError):
        await client.aclose()
        if os.environ.get("CI") == "true":
            pytest.fail("Redis is not reachable on 127.0.0.1:6379 and CI=true")
        pytest.skip("Redis is not reachable on 127.0.0.1:6379")
    yield name
    keys = [key async for key in client.scan_iter(match=f"{name}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give each schemathesis test (one per API operation) a node id of its own.

    schemathesis names each operation's test ``test_api_conforms[POST /v1/...]``, but under
    pytest 9 (which builds node ids from the original name and the parameters) all of them get
    the function's node id. pytest-xdist tells tests apart by node id only, so under
    ``make test`` (two workers) the 86 operations ran as one. The operation becomes the id's
    parameter, as it is in the name.
    """
    for item in items:
        label = getattr(item, "operation_label", None)
        if label is not None and item._id.params is None:
            item._id = item._id.with_params(label)
