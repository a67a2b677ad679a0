"""Shared test harness: real databases, the app in process, a scripted clock."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from sessionkeeper.assembly import create_app
from sessionkeeper.clock import ManualClock
from sessionkeeper.config import Settings
from sessionkeeper.domain.principal import Scope
from sessionkeeper.services.container import Services
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.storage.tables import metadata, server_secrets

# A fixed, recognisable start for scripted clocks: 2026-01-05 09:00:00 UTC.
T0 = int(datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp() * 1000)
PG_ADMIN_URL = os.environ.get(
    "SESSIONKEEPER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)


# The server-wide operator key of apps started with ``operator_key=OPERATOR_KEY``.
OPERATOR_KEY = "op-" + "o" * 40
OPERATOR = {"Authorization": f"Bearer {OPERATOR_KEY}"}

# The machine's Redis; tests keep to a key prefix of their own (the ``redis_prefix`` fixture).
REDIS_URL = "redis://127.0.0.1:6379/0"


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def ms(value: str) -> int:
    return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except sa.exc.SQLAlchemyError:
        return False


def create_pg_database() -> str:
    """A throwaway database; returns its URL. Drop it with :func:`drop_pg_database`."""
    name = f"sk_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    engine = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def empty_database(url: str) -> None:
    """Remove every row, keeping the schema (fast isolation between tests on PostgreSQL) and
    the server's own secrets, which its migrations made once."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        tables = [t for t in metadata.sorted_tables if t is not server_secrets]
        names = ", ".join(f'"{t.name}"' for t in tables)
        conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


def settings_for(url: str, **overrides: object) -> Settings:
    # NORMAL keeps tests fast; durability across kill -9 holds in WAL mode either way. A
    # write's wait is long here: the machine running the suite is busy, and a test that
    # wants the bounded wait of a database that stops answering sets its own.
    values: dict[str, object] = {
        "database_url": url,
        "sqlite_synchronous": "NORMAL",
        "write_timeout_s": 60.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@dataclass
class Harness:
    """The app in process on a real database, with a scripted clock and keys per scope."""

    app: FastAPI
    runtime: Runtime
    clock: ManualClock
    client: httpx.AsyncClient
    keys: dict[str, str] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def auth(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[scope]}"}

    def new_key(self, tenant: str, scope: str) -> str:
        return self.services.tenants.create_key(tenant, Scope(scope))[1]

    async def post(self, path: str, json: object = None, scope: str = "admin") -> httpx.Response:
        return await self.client.post(path, json=json, headers=self.auth(scope))

    async def put(self, path: str, json: object = None, scope: str = "admin") -> httpx.Response:
        return await self.client.put(path, json=json, headers=self.auth(scope))

    async def get(self, path: str, scope: str = "admin", **params: object) -> httpx.Response:
        return await self.client.get(path, headers=self.auth(scope), params=params or None)

    def advance(self, seconds: float) -> int:
        return self.clock.advance(seconds)


@asynccontextmanager
async def running_app(
    url: str, clock: ManualClock | None = None, **overrides: object
) -> AsyncIterator[Harness]:
    """Start the app (migrations, writer) on ``url``; jobs do not run, tests sweep explicitly."""
    clock = clock or ManualClock(T0)
    runtime = Runtime.open(settings_for(url, **overrides), clock=clock)
    app = create_app(runtime, run_jobs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:
            harness = Harness(app=app, runtime=runtime, clock=clock, client=client)
            tenants = harness.services.tenants
            if not any(t.name == "default" for t in tenants.list_tenants()):
                tenants.create_tenant("default")
            for scope in ("admin", "ingest", "read"):
                harness.keys[scope] = harness.new_key("default", scope)
            yield harness
    runtime.close()
