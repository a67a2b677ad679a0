from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from sessionkeeper.client import AsyncClient, Client
from tests.client.live import FAST, LiveServer, Tenant, serve
from tests.client.processes import ServerProcess


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the whole client suite; each test gets its own tenant."""
    database: Path = tmp_path_factory.mktemp("client") / "sessionkeeper.db"
    with serve(database) as server:
        yield server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server process of the test's own, to kill and start again (SQLite)."""
    server = ServerProcess(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def tenant(live_server: LiveServer) -> Tenant:
    return live_server.new_tenant()


@pytest.fixture
def base_url(live_server: LiveServer) -> str:
    return live_server.base_url


@pytest.fixture
def client(base_url: str, tenant: Tenant) -> Iterator[Client]:
    with Client(base_url, tenant.admin, **FAST) as client:
        yield client


@pytest.fixture
async def aclient(base_url: str, tenant: Tenant) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(base_url, tenant.admin, **FAST) as client:
        yield client
