"""The listing filter's one parser, grouping, the nearest-rank percentile and the CSV rows,
table-driven and without I/O."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest

from sessionkeeper.domain.export import COLUMNS, CsvExport, parse_subject_fields
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.listing import FILTERS, SessionFilter
from sessionkeeper.domain.session import Session
from sessionkeeper.domain.stats import GroupBy, Grouping, nearest_rank
from sessionkeeper.errors import InvalidInput

T = int(datetime(2026, 11, 21, 10, 0, tzinfo=UTC).timestamp() * 1000)


def parse(**params: str) -> SessionFilter:
    return SessionFilter.parse(params.items())


def test_every_filter_parses() -> None:
    where = SessionFilter.parse(
        [
            ("status", "timed_out"),
            ("kind", "lesson"),
            ("user_id", "ann"),
            ("label", "French A2"),
            ("source", "link"),
            ("subject.teacher_id", "t1"),
            ("subject.student_id", "s9"),
            ("started_after", "2026-11-21T10:00:00Z"),
            ("started_before", "2026-11-21T12:00:00+02:00"),
            ("ended_after", "2026-11-21T10:00:00.250Z"),
            ("ended_before", "2026-11-22T00:00:00Z"),
            ("active_during", "2026-11-21T10:00:00Z/2026-11-21T11:00:00Z"),
            ("min_duration_s", "90.5"),
        ]
    )
    assert where == SessionFilter(
        status=Status.TIMED_OUT,
        kind="lesson",
        user_id="ann",
        label="French A2",
        source="link",
        subject=(("student_id", "s9"), ("teacher_id", "t1")),
        started_after=T,
        started_before=T,  # 12:00 at +02:00 is 10:00 UTC
        ended_after=T + 250,
        ended_before=T + 14 * 3_600_000,
        active_during=(T, T + 3_600_000),
        min_duration_ms=90_500,
    )
    assert SessionFilter.parse([]) == SessionFilter()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "sleeping"),
        ("kind", "has space"),
        ("kind", "game\n"),
        ("kind", ""),
        ("user_id", "a" * 257),
        ("user_id", "a\x00b"),
        ("source", "s" * 129),
        ("started_after", "2026-11-21T10:00:00"),  # no offset
        ("started_after", "1763719200"),  # a bare number: seconds or milliseconds?
        ("started_after", "yesterday"),
        ("started_after", "2026-13-01T00:00:00Z"),
        ("ended_before", "2026-11-21T10:00:00Z junk"),
        ("active_during", "2026-11-21T10:00:00Z"),
        ("active_during", "2026-11-21T11:00:00Z/2026-11-21T10:00:00Z"),  # backwards
        ("active_during", "2026-11-21T10:00:00Z/2026-11-21T10:00:00Z"),  # empty
        ("min_duration_s", "-1"),
        ("min_duration_s", "nan"),
        ("min_duration_s", "inf"),
        ("min_duration_s", "1e300"),
        ("min_duration_s", ""),
        ("subject.bad-name", "x"),
        ("subject.", "x"),
        ("subject.teacher_id", "t" * 257),
        ("colour", "red"),
    ],
)
def test_bad_filters_are_refused_naming_the_parameter(name: str, value: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        SessionFilter.parse([(name, value)])
    assert refused.value.field == name


def test_a_filter_given_twice_is_refused() -> None:
    for pairs in ([("kind", "a"), ("kind", "b")], [("subject.t", "1"), ("subject.t", "2")]):
        with pytest.raises(InvalidInput, match="more than once"):
            SessionFilter.parse(pairs)


def test_too_many_subject_filters() -> None:
    with pytest.raises(InvalidInput):
        SessionFilter.parse([(f"subject.f{i}", "x") for i in range(17)])


def test_times_without_offset_are_utc_only_when_asked() -> None:
    assert SessionFilter.parse(
        [("started_after", "2026-11-21T10:00:00")], assume_utc=True
    ) == SessionFilter(started_after=T)


def test_every_filter_is_described() -> None:
    names = [spec.name for spec in FILTERS]
    assert len(names) == len(set(names))
    assert all(spec.description and spec.schema for spec in FILTERS)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kind", GroupBy(Grouping.KIND)),
        ("day", GroupBy(Grouping.DAY)),
        ("subject.teacher_id", GroupBy(Grouping.SUBJECT, "teacher_id")),
    ],
)
def test_group_by(raw: str, expected: GroupBy) -> None:
    assert GroupBy.parse(raw) == expected
    assert GroupBy.parse(raw).name == raw


@pytest.mark.parametrize("raw", ["user", "subject.", "subject.a-b", "Kind", ""])
def test_bad_group_by(raw: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        GroupBy.parse(raw)
    assert refused.value.field == "group_by"


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([], 50, None),
        ([7], 50, 7),
        ([7], 95, 7),
        ([1, 2], 50, 1),  # rank ceil(1.0) = 1
        ([1, 2, 3], 50, 2),
        ([1, 2, 3, 4], 50, 2),
        ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95, 10),
        (list(range(1, 101)), 95, 95),
        (list(range(1, 101)), 50, 50),
        (list(range(1, 21)), 95, 19),
    ],
)
def test_nearest_rank(values: list[int], percent: int, expected: int | None) -> None:
    assert nearest_rank(values, percent) == expected


def _session(**changes: object) -> Session:
    values: dict[str, object] = {
        "tenant_id": 1,
        "id": "s1",
        "user_id": "ann",
        "kind": "lesson",
        "label": None,
        "source": None,
        "attributes": {},
        "status": Status.ENDED,
        "end_reason": EndReason.CLIENT,
        "estimated": False,
        "started_at": T,
        "last_seen_at": T + 60_000,
        "expires_at": T + 360_000,
        "ended_at": T + 90_500,
        "timeout_ms": 300_000,
        "grace_ms": 30_000,
    }
    values.update(changes)
    return Session(**values)  # type: ignore[arg-type]


def test_csv_rows_follow_rfc_4180() -> None:
    export = CsvExport(["student_id", "teacher_id"])
    text = export.header() + export.rows(
        [
            _session(
                label='Maths, "advanced"\nlevel 2',
                subject={"teacher_id": "t1"},
                attributes={"room": "b"},
            ),
            _session(id="s2", status=Status.ACTIVE, end_reason=None, ended_at=None),
        ]
    )
    assert text.count("\r\n") == 3  # three records end in CRLF; the label keeps its "\\n"
    assert '"Maths, ""advanced""\nlevel 2"' in text
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == [c.header for c in COLUMNS] + [
        "subject.student_id",
        "subject.teacher_id",
        "attributes",
    ]
    first = dict(zip(rows[0], rows[1], strict=True))
    assert first["label"] == 'Maths, "advanced"\nlevel 2'
    assert first["started_at"] == "2026-11-21T10:00:00.000Z"
    assert first["ended_at"] == "2026-11-21T10:01:30.500Z"
    assert first["duration_s"] == "90.5" and first["estimated"] == "false"
    assert (first["subject.teacher_id"], first["subject.student_id"]) == ("t1", "")
    assert first["attributes"] == '{"room":"b"}'
    second = dict(zip(rows[0], rows[2], strict=True))
    assert (second["status"], second["ended_at"], second["duration_s"]) == ("active", "", "")


@pytest.mark.parametrize("value", ["=HYPERLINK(1)", "+1", "-2+3", "@SUM(A1)", "\tx"])
def test_csv_cells_that_a_spreadsheet_would_run_are_quoted(value: str) -> None:
    export = CsvExport(["teacher_id"])
    export.header()
    row = next(csv.reader(io.StringIO(export.rows([_session(user_id=value)]), newline="")))
    assert row[1] == "'" + value


def test_subject_fields_parameter() -> None:
    assert parse_subject_fields(None) is None
    assert parse_subject_fields("teacher_id, subject.student_id,") == ["teacher_id", "student_id"]
    for bad in ("a-b", "a,a", ",".join(f"f{i}" for i in range(65))):
        with pytest.raises(InvalidInput):
            parse_subject_fields(bad)
