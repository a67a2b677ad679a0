"""Statistics and the CSV export of sessions, for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial

from sqlalchemy.engine import Connection

from sessionkeeper.domain.export import MAX_SUBJECT_COLUMNS, CsvExport
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.stats import MAX_GROUPS, Counts, Group, GroupBy, SessionStats
from sessionkeeper.errors import InvalidInput
from sessionkeeper.services.runtime import Runtime
from sessionkeeper.services.session_fields import SessionFields
from sessionkeeper.storage import session_reports as store

# Sessions per page of the export: one read each, small enough to keep memory flat.
EXPORT_PAGE = 2000


class SessionReports:
    def __init__(self, runtime: Runtime, fields: SessionFields | None = None) -> None:
        self.rt = runtime
        # The features' session fields: the export's last columns, read page by page.
        self.fields = fields or SessionFields()

    async def stats(
        self, principal: Principal, where: SessionFilter, group_by: GroupBy | None
    ) -> SessionStats:
        now = self.rt.clock.now_ms()

        def read(conn: Connection) -> SessionStats:
            overall = store.stats(conn, principal, where, None, now, limit=1)
            if group_by is None:
                return SessionStats(overall=overall[0][1] if overall else Counts())
            rows = store.stats(conn, principal, where, group_by, now, limit=MAX_GROUPS + 1)
            groups = tuple(
                Group(key=store.group_key(group_by, key), counts=counts)
                for key, counts in rows[:MAX_GROUPS]
            )
            return SessionStats(
                overall=overall[0][1] if overall else Counts(),
                group_by=group_by,
                groups=groups,
                truncated=len(rows) > MAX_GROUPS,
            )

        return await self.rt.db.reader.run(read)

    async def export_csv(
        self,
        principal: Principal,
        where: SessionFilter,
        subject_fields: list[str] | None = None,
    ) -> AsyncIterator[str]:
        """The CSV text of every matching session, oldest first, page by page.

        ``subject_fields`` names the ``subject.<field>`` columns; by default every field the
        matching sessions use (up to 64, else the caller must choose). Validation happens
        before the first chunk, so errors reach the client as a problem, not a cut file.
        """
        now = self.rt.clock.now_ms()
        columns = await self.subject_columns(principal, where, now, subject_fields)
        return self._pages(principal, where, now, CsvExport(columns, self.fields.names))

    async def subject_columns(
        self, principal: Principal, where: SessionFilter, now: int, chosen: list[str] | None
    ) -> list[str]:
        """The ``subject.<field>`` columns of an export: the ``chosen`` fields, or by default
        every field the matching sessions use (up to 64, else the caller must choose)."""
        if chosen is not None:
            return chosen
        used = await self.rt.db.reader.run(
            lambda conn: store.subject_fields(
                conn, principal, where, now, limit=MAX_SUBJECT_COLUMNS + 1
            )
        )
        if len(used) > MAX_SUBJECT_COLUMNS:
            raise InvalidInput(
                f"these sessions use more than {MAX_SUBJECT_COLUMNS} subject fields; "
                "choose the columns with subject_fields=a,b,…",
                field="subject_fields",
            )
        return used

    async def _pages(
        self, principal: Principal, where: SessionFilter, now: int, export: CsvExport
    ) -> AsyncIterator[str]:
        yield export.header()
        after: tuple[int, str] | None = None
        while True:
            # Read and format in the worker thread: the event loop only passes text on.
            text, count, after = await self.rt.db.reader.run(
                partial(
                    _csv_page,
                    principal=principal,
                    where=where,
                    now=now,
                    after=after,
                    export=export,
                    fields=self.fields,
                )
            )
            if count:
                yield text
            if count < EXPORT_PAGE:
                return


def _csv_page(
    conn: Connection,
    *,
    principal: Principal,
    where: SessionFilter,
    now: int,
    after: tuple[int, str] | None,
    export: CsvExport,
    fields: SessionFields,
) -> tuple[str, int, tuple[int, str] | None]:
    """One page of the export as CSV text, its number of rows, and the key to read after."""
    page = store.export_page(conn, principal, where, now, after=after, limit=EXPORT_PAGE)
    last = (page[-1].started_at, page[-1].id) if page else None
    values = fields.read(conn, principal, page) if fields else {}
    return export.rows(page, values), len(page), last
