"""Throwaway databases: a SQLite file in a temporary directory, or a PostgreSQL database.

Both are removed when the ``with`` block ends, whatever happens inside it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from sessionkeeper.config import Settings
from sessionkeeper.storage.engine import normalise_url

PG_ADMIN_URL = os.environ.get(
    "SESSIONKEEPER_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ("sqlite", "postgresql")


def _admin_engine() -> sa.Engine:
    return sa.create_engine(normalise_url(PG_ADMIN_URL), isolation_level="AUTOCOMMIT")


def postgres_available() -> bool:
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    finally:
        engine.dispose()
    return True


def postgres_version() -> str | None:
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


@contextlib.contextmanager
def sqlite_database() -> Iterator[str]:
    # On the real disk (not tmpfs), so that commits pay for fsync as they would in production.
    directory = Path(tempfile.mkdtemp(prefix="sk-bench-", dir=tempfile.gettempdir()))
    try:
        yield f"sqlite:///{directory / 'bench.db'}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    name = f"sk_bench_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            with engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@contextlib.contextmanager
def database(backend: str) -> Iterator[str]:
    """A fresh, empty database of ``backend``; yields its URL."""
    factory = sqlite_database if backend == "sqlite" else postgres_database
    with factory() as url:
        yield url


def settings_for(url: str, **overrides: object) -> Settings:
    """Server defaults (synchronous=FULL on SQLite) on ``url``, ignoring any ``.env`` file."""
    values: dict[str, object] = {"database_url": url, "log_level": "warning"}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def bare_engine(url: str) -> sa.Engine:
    """A plain engine for baselines and bulk loading: no pool tuning, no begin hooks."""
    return sa.create_engine(normalise_url(url))
