"""The CSV export of sessions: its columns, defined once, and how rows become RFC 4180 text.

A row is one session as the lifecycle rules say it stands at the time of the export (an
overdue session not yet swept is ``timed_out`` at its estimated end). Times are UTC ISO 8601
with milliseconds and a ``Z``; empty cells are absent values.

Columns: :data:`COLUMNS` in order, then one ``subject.<field>`` column per subject field
(sorted by name), then ``attributes`` as compact JSON, then one column per field a feature
adds to sessions (``feature.SessionField``, e.g. ``outcome``): its value as the API sends it,
in compact JSON, empty when the session has none. New per-session fields of the kernel get
their column here and nowhere else.

Text a client sent (ids, labels, subject values, attributes) that begins with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return is written with a leading ``'``, so a spreadsheet
opening the file shows it as text instead of running it as a formula (OWASP's advice on CSV
injection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sessionkeeper.domain.session import Session
from sessionkeeper.domain.subject import SUBJECT_PREFIX, is_subject_field
from sessionkeeper.domain.times import iso_z
from sessionkeeper.errors import InvalidInput

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Most subject columns one export writes.
MAX_SUBJECT_COLUMNS = 64


def utc(ms: int | None) -> str:
    return "" if ms is None else iso_z(ms)


def text(value: str | None) -> str:
    """A client's text, safe to open in a spreadsheet."""
    if not value:
        return ""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _duration_s(session: Session) -> str:
    return "" if session.duration_ms is None else str(session.duration_ms / 1000)


def _bound_s(which: int) -> Callable[[Session], str]:
    def value(session: Session) -> str:
        bounds = session.duration_bounds_ms
        return "" if bounds is None else str(bounds[which] / 1000)

    return value


@dataclass(frozen=True, slots=True)
class Column:
    header: str
    value: Callable[[Session], str]


COLUMNS: tuple[Column, ...] = (
    Column("id", lambda s: text(s.id)),
    Column("user_id", lambda s: text(s.user_id)),
    Column("kind", lambda s: text(s.kind)),
    Column("label", lambda s: text(s.label)),
    Column("source", lambda s: text(s.source)),
    Column("status", lambda s: s.status.value),
    Column("end_reason", lambda s: "" if s.end_reason is None else s.end_reason.value),
    Column("estimated", lambda s: "true" if s.estimated else "false"),
    Column("started_at", lambda s: utc(s.started_at)),
    Column("last_seen_at", lambda s: utc(s.last_seen_at)),
    Column("ended_at", lambda s: utc(s.ended_at)),
    Column("duration_s", _duration_s),
    # Where the true duration lies (equal for an exact end): ``lifecycle.duration_bounds``.
    Column("duration_low_s", _bound_s(0)),
    Column("duration_high_s", _bound_s(1)),
)


# One encoder for every row: json.dumps with options builds a new one per call.
_compact_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _attributes(session: Session) -> str:
    return text(_compact_json(session.attributes)) if session.attributes else ""


def _json_cell(value: Any) -> str:
    return "" if value is None else text(_compact_json(value))


class CsvExport:
    """Turns pages of sessions into CSV text: the header first, then one line per session."""

    def __init__(self, subject_fields: Sequence[str], added_fields: Sequence[str] = ()) -> None:
        self.subject_fields = tuple(subject_fields)
        # Fields features add to sessions: the last columns, so no other column moves.
        self.added_fields = tuple(added_fields)
        self._buffer = io.StringIO()
        # RFC 4180: CRLF line ends, fields with commas, quotes or line breaks quoted.
        self._writer = csv.writer(self._buffer, lineterminator="\r\n")

    def names(self) -> list[str]:
        """The header's names, in order."""
        subject = [SUBJECT_PREFIX + name for name in self.subject_fields]
        return [*(column.header for column in COLUMNS), *subject, "attributes", *self.added_fields]

    def cells(self, session: Session, values: Mapping[str, Any]) -> list[str]:
        """One session's line, as cells; ``values``: the added fields' values (absent: none)."""
        subject = session.subject
        return (
            [column.value(session) for column in COLUMNS]
            + [text(subject.get(name)) for name in self.subject_fields]
            + [_attributes(session)]
            + [_json_cell(values.get(name)) for name in self.added_fields]
        )

    def header(self) -> str:
        self._writer.writerow(self.names())
        return self._take()

    def rows(
        self,
        sessions: Iterable[Session],
        added: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> str:
        """``added``: the values of the added fields, by session id (absent: none)."""
        for session in sessions:
            self._writer.writerow(self.cells(session, (added or {}).get(session.id, {})))
        return self._take()

    def _take(self) -> str:
        value = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return value


def parse_subject_fields(raw: str | None) -> list[str] | None:
    """``teacher_id,student_id`` (with or without the ``subject.`` prefix) as field names."""
    if raw is None:
        return None
    names = [name.strip().removeprefix(SUBJECT_PREFIX) for name in raw.split(",")]
    names = [name for name in names if name]
    for name in names:
        if not is_subject_field(name):
            raise InvalidInput(f"{name!r} is not a subject field name", field="subject_fields")
    if len(names) > MAX_SUBJECT_COLUMNS or len(set(names)) != len(names):
        raise InvalidInput(
            f"subject_fields names up to {MAX_SUBJECT_COLUMNS} distinct fields",
            field="subject_fields",
        )
    return names
