"""Sessions with their outcomes as CSV: the columns of the session export
(``domain/export.py``: the session's own, ``subject.<field>`` and ``attributes``; not its
``outcome`` column), then one ``metric.<name>`` column per metric the tenant defines, then the
whole outcome as compact JSON cells (``metrics``, ``counters``, ``tags``,
``outcome_metadata``) so nothing is lost for metrics without a definition."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.export import CsvExport, text
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Principal, Scope
from sessionkeeper.domain.session import Session
from sessionkeeper.learning import store
from sessionkeeper.learning.service import Learning
from sessionkeeper.learning.store import Outcome
from sessionkeeper.storage import session_reports as reports_store

EXPORT_PAGE = 1000
_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _cell(value: dict[str, Any] | None) -> str:
    return text(_compact(value)) if value else ""


class OutcomeCsv:
    def __init__(self, subject_fields: Sequence[str], metric_names: Sequence[str]) -> None:
        # The session export's columns, without the outcome it would add as one JSON cell.
        self.sessions = CsvExport(subject_fields)
        self.metric_names = tuple(metric_names)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def header(self) -> str:
        names = self.sessions.names() + [f"metric.{n}" for n in self.metric_names]
        self._writer.writerow([*names, "metrics", "counters", "tags", "outcome_metadata"])
        return self._take()

    def rows(self, page: Sequence[tuple[Session, Outcome | None]]) -> str:
        for session, outcome in page:
            found = outcome or Outcome()
            metrics = [found.metrics.get(name) for name in self.metric_names]
            self._writer.writerow(
                self.sessions.cells(session, {})
                + ["" if m is None else str(m) for m in metrics]
                + [_cell(found.metrics), _cell(found.counters), _cell(found.tags)]
                + [_cell(found.metadata)]
            )
        return self._take()

    def _take(self) -> str:
        value = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return value


async def export_csv(
    learning: Learning,
    principal: Principal,
    where: SessionFilter,
    subject_fields: list[str] | None = None,
) -> AsyncIterator[str]:
    """``subject_fields`` as the session export takes them (None: every field used)."""
    principal.require(Scope.READ)
    rt = learning.rt
    names = sorted(await learning.definitions(principal))
    now = rt.clock.now_ms()
    reports = learning.services.reports
    out = OutcomeCsv(await reports.subject_columns(principal, where, now, subject_fields), names)

    def page(
        conn: Connection, *, after: tuple[int, str] | None
    ) -> list[tuple[Session, Outcome | None]]:
        sessions = reports_store.export_page(
            conn, principal, where, now, after=after, limit=EXPORT_PAGE
        )
        found = store.outcomes_of(conn, principal, [s.id for s in sessions])
        return [(s, found.get(s.id)) for s in sessions]

    async def chunks() -> AsyncIterator[str]:
        yield out.header()
        after: tuple[int, str] | None = None
        while True:
            rows = await rt.db.reader.run(partial(page, after=after))
            if rows:
                yield out.rows(rows)
                after = (rows[-1][0].started_at, rows[-1][0].id)
            if len(rows) < EXPORT_PAGE:
                return

    return chunks()
