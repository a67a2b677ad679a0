"""One process's handle on the database: the group-commit writer and the read pool."""

from __future__ import annotations

import sqlalchemy as sa

from sessionkeeper.config import Settings
from sessionkeeper.domain.public_ids import PublicIds
from sessionkeeper.errors import StorageUnavailable
from sessionkeeper.logs import fact, startup_log
from sessionkeeper.storage import migrate, server_secrets
from sessionkeeper.storage.engine import (
    ConnectionLimits,
    ReadPool,
    create_engine,
    storage_errors,
)
from sessionkeeper.storage.watchdog import Watchdog
from sessionkeeper.storage.writer import Writer


class Database:
    def __init__(self, settings: Settings) -> None:
        self.url = settings.database_url
        limits = ConnectionLimits.of(settings)
        watchdog = Watchdog(limits.answer_deadline_s)
        self.write_engine = create_engine(
            settings.database_url,
            role="writer",
            sqlite_synchronous=settings.sqlite_synchronous,
            sqlite_checkpoint_pages=settings.sqlite_checkpoint_pages,
            limits=limits,
            watchdog=watchdog,
        )
        self.read_engine = create_engine(
            settings.database_url,
            role="reader",
            pool_size=settings.db_pool_size,
            sqlite_synchronous=settings.sqlite_synchronous,
            sqlite_checkpoint_pages=settings.sqlite_checkpoint_pages,
            limits=limits,
            watchdog=watchdog,
        )
        self.writer = Writer(
            self.write_engine,
            max_group=settings.writer_max_batch,
            max_queue=settings.writer_max_queue,
            write_timeout_s=settings.write_timeout_s,
            watchdog=watchdog,
        )
        self.reader = ReadPool(self.read_engine, watchdog)
        self._public_ids: PublicIds | None = None

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    def migrate(self) -> list[str]:
        """Apply what is pending; returns the revisions applied, oldest first."""
        with storage_errors(self.write_engine):
            applying = migrate.pending(self.write_engine)
            migrate.upgrade(self.write_engine)
        fact(
            startup_log,
            f"migrations applied: {', '.join(applying)}" if applying else "schema up to date",
            applied=applying,
            revision=migrate.head_revision(self.write_engine),
        )
        return applying

    @property
    def public_ids(self) -> PublicIds:
        """The server's permutation of row ids, read on first use; the app reads it at
        startup (``read_public_ids``) so that no request waits on it."""
        if self._public_ids is None:
            with storage_errors(self.read_engine), self.read_engine.connect() as conn:
                self._public_ids = server_secrets.public_ids(conn)
        return self._public_ids

    def read_public_ids(self) -> None:
        """Read the permutation now if the database answers; else on first use."""
        try:
            self.public_ids  # noqa: B018 -- the property caches what it reads
        except StorageUnavailable as exc:
            fact(startup_log, f"public ids not read at startup: {exc}")

    def pending_migrations(self) -> list[str]:
        with storage_errors(self.write_engine):
            return migrate.pending(self.write_engine)

    def describe(self) -> str:
        """Where the data lives, without the password: for logs."""
        return self.write_engine.url.render_as_string(hide_password=True)

    def is_migrated(self) -> bool:
        with storage_errors(self.write_engine):
            return migrate.current_revision(self.write_engine) == migrate.head_revision(
                self.write_engine
            )

    def ping(self) -> bool:
        try:
            with self.read_engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def close(self) -> None:
        self.writer.close()
        self.write_engine.dispose()
        self.read_engine.dispose()
