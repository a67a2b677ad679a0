"""What a listing of sessions asks for: its filters, parsed in one place, and the position of
the next page.

The API (the query of ``/v1/sessions``, ``/v1/sessions/stats`` and
``/v1/sessions/export.csv``) and the CLI (``sessions list``) hand the same ``name=value`` pairs
to :meth:`SessionFilter.parse`, so a filter means the same everywhere. :data:`FILTERS`
describes each one, for the OpenAPI document and the CLI's help.

Filters read each session as the lifecycle rules say it stands at the time of the read: a
session that is overdue but not yet swept is timed out, ended at its estimated end
(``storage/session_filters.py`` spells that in SQL).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sessionkeeper.domain import times
from sessionkeeper.domain.ids import KIND_PATTERN, SESSION_ID_PATTERN, is_valid_session_id
from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.subject import (
    MAX_SUBJECT_FIELDS,
    MAX_SUBJECT_VALUE_LENGTH,
    SUBJECT_FIELD_PATTERN,
    SUBJECT_PREFIX,
    is_subject_field,
)
from sessionkeeper.domain.times import ISO_DATE, to_ms_down, to_ms_up
from sessionkeeper.errors import InvalidInput

# Beyond any date the API can express (year 9999 is ~2.5e14 ms), well inside BIGINT.
MAX_MS = 2**53


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """Which sessions a listing, stats or export covers; every field is optional.

    Times are epoch milliseconds; ``*_after`` bounds are inclusive, ``*_before`` exclusive.
    """

    status: Status | None = None
    kind: str | None = None
    user_id: str | None = None
    label: str | None = None
    source: str | None = None
    continues: str | None = None
    # (field, value) pairs, all of which must match.
    subject: tuple[tuple[str, str], ...] = ()
    started_after: int | None = None
    started_before: int | None = None
    ended_after: int | None = None
    ended_before: int | None = None
    # (from, to): the session was going at some moment of [from, to).
    active_during: tuple[int, int] | None = None
    min_duration_ms: int | None = None

    @classmethod
    def parse(cls, pairs: Iterable[tuple[str, str]], *, assume_utc: bool = False) -> SessionFilter:
        """The filter of ``name=value`` pairs (a query string, the CLI's options).

        Raises :class:`InvalidInput` naming the parameter for an unknown name, a name given
        twice or a value out of shape. ``assume_utc`` reads a time without an offset as UTC
        (the CLI's habit); the API refuses such times.
        """
        values: dict[str, Any] = {}
        subject: dict[str, str] = {}
        for name, raw in pairs:
            if name.startswith(SUBJECT_PREFIX):
                field = name[len(SUBJECT_PREFIX) :]
                if not is_subject_field(field):
                    raise InvalidInput(
                        f"{name}: a subject field matches {SUBJECT_FIELD_PATTERN}", field=name
                    )
                if field in subject:
                    raise InvalidInput(f"{name} is given more than once", field=name)
                subject[field] = _text(MAX_SUBJECT_VALUE_LENGTH)(name, raw)
                if len(subject) > MAX_SUBJECT_FIELDS:
                    raise InvalidInput(f"at most {MAX_SUBJECT_FIELDS} subject filters", field=name)
                continue
            spec = FILTERS_BY_NAME.get(name)
            if spec is None:
                known = ", ".join([*FILTERS_BY_NAME, SUBJECT_PREFIX + "<field>"])
                raise InvalidInput(f"unknown filter {name!r}; filters are {known}", field=name)
            if spec.attribute in values:
                raise InvalidInput(f"{name} is given more than once", field=name)
            values[spec.attribute] = spec.parse(name, raw, assume_utc)
        return cls(subject=tuple(sorted(subject.items())), **values)


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page: the value the page is ordered by (the start,
    unless ordered otherwise), ties broken by id."""

    value: int
    id: str


class SortKey(StrEnum):
    STARTED = "started"
    ENDED = "ended"  # closed sessions only: an open session has no end yet
    DURATION = "duration"  # closed sessions only: an open session's duration grows


class SessionOrder(StrEnum):
    """The orders of a listing of sessions. Each one reads an index in order, so a page
    costs its rows whatever the number of sessions: the start by ``(tenant_id,
    started_at)``, the end by ``(tenant_id, ended_at)`` and the duration by ``(tenant_id,
    ended_at - started_at)``. The last heartbeat has no index: heartbeats would rewrite it."""

    NEWEST = "newest"
    OLDEST = "oldest"
    ENDED_LATEST = "ended_latest"
    ENDED_EARLIEST = "ended_earliest"
    LONGEST = "longest"
    SHORTEST = "shortest"

    @property
    def key(self) -> SortKey:
        if self in (SessionOrder.ENDED_LATEST, SessionOrder.ENDED_EARLIEST):
            return SortKey.ENDED
        if self in (SessionOrder.LONGEST, SessionOrder.SHORTEST):
            return SortKey.DURATION
        return SortKey.STARTED

    @property
    def ascending(self) -> bool:
        return self in (SessionOrder.OLDEST, SessionOrder.ENDED_EARLIEST, SessionOrder.SHORTEST)

    def value_of(self, started_at: int, ended_at: int | None) -> int:
        """The value a row is ordered by (a cursor's), for a row this order lists."""
        if self.key is SortKey.STARTED:
            return started_at
        assert ended_at is not None  # the other orders list closed sessions only
        return ended_at if self.key is SortKey.ENDED else ended_at - started_at


# Parsing, one function per shape of value. Each takes (name, raw, assume_utc).
Parse = Callable[[str, str, bool], Any]


def _text(max_length: int) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if len(raw) > max_length:
            raise InvalidInput(f"{name} is longer than {max_length} characters", field=name)
        if "\x00" in raw:
            raise InvalidInput(f"{name} must not contain NUL", field=name)
        return raw

    return parse


def _text_filter(max_length: int) -> Parse:
    parse = _text(max_length)
    return lambda name, raw, _utc: parse(name, raw)


_KIND_RE = re.compile(KIND_PATTERN)


def _kind(name: str, raw: str, _utc: bool) -> str:
    if not _KIND_RE.fullmatch(raw):
        raise InvalidInput(f"{name} must match {KIND_PATTERN}", field=name)
    return raw


def _status(name: str, raw: str, _utc: bool) -> Status:
    try:
        return Status(raw)
    except ValueError:
        allowed = ", ".join(status.value for status in Status)
        raise InvalidInput(f"{name} must be one of {allowed}", field=name) from None


def _session_id(name: str, raw: str, _utc: bool) -> str:
    if not is_valid_session_id(raw):
        raise InvalidInput(f"{name} is not a session id (1-64 of [A-Za-z0-9_.:-])", field=name)
    return raw


def parse_time(name: str, raw: str, assume_utc: bool = False, *, down: bool = False) -> int:
    """Epoch milliseconds of an ISO 8601 date-time with an offset (``2026-11-21T10:00:00Z``),
    for a bound ``>=`` or ``<`` on stored times: a fraction of a millisecond rounded up
    (``down``: dropped, for a bound ``>``)."""
    refusal = InvalidInput(
        f"{name} must be an ISO 8601 date-time with a timezone, like 2026-11-21T10:00:00Z",
        field=name,
    )
    if not ISO_DATE.match(raw):
        raise refusal
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise refusal from None
    if value.tzinfo is None or value.utcoffset() is None:
        if not assume_utc:
            raise refusal
        value = value.replace(tzinfo=UTC)
    ms = to_ms_down(value) if down else to_ms_up(value)
    # As a time in a body: one whose date in UTC falls outside the years 1 to 9999 (offsets
    # can push a date that reads within them outside) could never be written back.
    if not times.MIN_MS <= ms <= times.MAX_MS:
        raise InvalidInput(f"{name} must lie within the years 1 to 9999 in UTC", field=name)
    return ms


def _interval(name: str, raw: str, assume_utc: bool) -> tuple[int, int]:
    start, slash, end = raw.partition("/")
    if not slash:
        raise InvalidInput(f"{name} must be <from>/<to>, two ISO 8601 date-times", field=name)
    # Going at some moment of [from, to): started before `to`, ended after `from`.
    interval = (
        parse_time(name, start, assume_utc, down=True),
        parse_time(name, end, assume_utc),
    )
    if interval[0] >= interval[1]:
        raise InvalidInput(f"{name}: <from> must be before <to>", field=name)
    return interval


_SECONDS_RE = re.compile(r"\d+(\.\d+)?([eE][+-]?\d+)?")


def _seconds_as_ms(name: str, raw: str, _utc: bool) -> int:
    refusal = InvalidInput(f"{name} must be a number of seconds, 0 or more", field=name)
    # A plain decimal number: no sign, "nan" or "inf", which float() would also take.
    if len(raw) > 32 or not _SECONDS_RE.fullmatch(raw):
        raise refusal
    # Exactly, in decimal: lasted at least 0.3 s is 300 ms (0.3 * 1000 in floating point is
    # 300.00000000000006), and at least 1800.0004 s is 1,800,001 ms.
    try:
        ms = Decimal(raw) * 1000
    except ArithmeticError:  # an exponent beyond the decimal context's
        raise refusal from None
    if not ms < MAX_MS:  # compared as a decimal: 1e999999 never becomes an int
        raise refusal
    return math.ceil(ms)


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """One filter: its query name, the :class:`SessionFilter` attribute it sets, how its value
    is read, what it means, and the JSON schema of its raw value (for OpenAPI)."""

    name: str
    parse: Parse
    description: str
    schema: Mapping[str, Any]
    attribute: str = ""

    def __post_init__(self) -> None:
        if not self.attribute:
            object.__setattr__(self, "attribute", self.name)


_TIME = {"type": "string", "format": "date-time"}
_TEXT_256 = {"type": "string", "maxLength": 256}

FILTERS: tuple[FilterSpec, ...] = (
    FilterSpec(
        "status",
        _status,
        "Status as the lifecycle rules say it is now: an overdue session not yet swept is "
        "`timed_out`, not `active`",
        {"type": "string", "enum": [status.value for status in Status]},
    ),
    FilterSpec("kind", _kind, "Sessions of this kind", {"type": "string", "pattern": KIND_PATTERN}),
    FilterSpec("user_id", _text_filter(256), "Sessions of this user", _TEXT_256),
    FilterSpec("label", _text_filter(256), "Sessions with this label", _TEXT_256),
    FilterSpec(
        "source",
        _text_filter(128),
        "Sessions of this presence source (or link, tracker…)",
        {"type": "string", "maxLength": 128},
    ),
    FilterSpec(
        "continues",
        _session_id,
        "Continuations of this session: the sessions started after a real gap in it",
        {"type": "string", "pattern": SESSION_ID_PATTERN},
    ),
    FilterSpec("started_after", parse_time, "Started at or after this time", _TIME),
    FilterSpec("started_before", parse_time, "Started before this time", _TIME),
    FilterSpec(
        "ended_after",
        parse_time,
        "Ended at or after this time (an overdue session at its estimated end)",
        _TIME,
    ),
    FilterSpec(
        "ended_before",
        parse_time,
        "Ended before this time (an overdue session at its estimated end)",
        _TIME,
    ),
    FilterSpec(
        "active_during",
        _interval,
        "`<from>/<to>`: going at some moment of [from, to) — started before `to` and ended "
        "after `from`, or still going",
        {"type": "string", "examples": ["2026-11-21T00:00:00Z/2026-11-22T00:00:00Z"]},
    ),
    FilterSpec(
        "min_duration_s",
        _seconds_as_ms,
        "Closed sessions (and overdue ones at their estimated end) that lasted at least this "
        "many seconds; active sessions have no duration yet",
        {"type": "number", "minimum": 0},
        attribute="min_duration_ms",
    ),
)
FILTERS_BY_NAME: dict[str, FilterSpec] = {spec.name: spec for spec in FILTERS}
SUBJECT_FILTER_DESCRIPTION = (
    "`subject.<field>=<value>` (repeatable with other fields, up to "
    f"{MAX_SUBJECT_FIELDS}): sessions whose subject has that value, e.g. "
    "`subject.teacher_id=t1`"
)
