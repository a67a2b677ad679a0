"""Client times (``api.fields.ClientTime``): every ISO 8601 form with an offset gives the
instant it names, whichever parser read it; a time without offset and a bare number are
refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, ValidationError

from sessionkeeper.api.fields import ClientTime, ms_or_none
from sessionkeeper.domain.times import api_time, to_ms


class Body(BaseModel):
    at: ClientTime


class PydanticOnly(BaseModel):
    at: AwareDatetime


offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)


def spellings(value: datetime) -> list[str]:
    """The ways a client may write ``value``: with or without fractions, ``Z`` for UTC."""
    forms = [value.isoformat(), value.isoformat(timespec="milliseconds")]
    if value.utcoffset() == timedelta(0):
        forms += [form.replace("+00:00", "Z") for form in forms]
    return forms


@given(instants)
def test_every_spelling_of_a_time_gives_its_instant(value: datetime) -> None:
    for text in spellings(value):
        parsed = ms_or_none(Body.model_validate({"at": text}).at)
        assert parsed is not None
        # The instant written, to the millisecond (the milliseconds form truncates).
        assert abs(parsed - to_ms(value)) <= 1
        # Exactly the instant of pydantic's own parse of the same string.
        assert parsed == to_ms(PydanticOnly.model_validate({"at": text}).at)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-28T20:26:40Z", datetime(2026, 5, 28, 20, 26, 40, tzinfo=UTC)),
        ("2026-05-28T20:26:40.123+02:00", datetime(2026, 5, 28, 18, 26, 40, 123000, tzinfo=UTC)),
        ("2026-05-28 20:26:40-05:30", datetime(2026, 5, 29, 1, 56, 40, tzinfo=UTC)),
        # Nanoseconds: more digits than the standard library reads; pydantic's parse takes it.
        ("2026-05-28T20:26:40.123456789Z", datetime(2026, 5, 28, 20, 26, 40, 123457, tzinfo=UTC)),
    ],
)
def test_written_times_name_their_instant(text: str, expected: datetime) -> None:
    assert ms_or_none(Body.model_validate({"at": text}).at) == to_ms(expected)


@pytest.mark.parametrize(
    "value",
    [
        "2026-05-28T20:26:40",
        "2026-05-28",
        1780000000,
        "1780000000",
        "20260528T202640Z",
        "",
        # Forms the standard library would read but pydantic refuses: they stay refused.
        "2026-05-28T20+00:00",
        "2026-05-28T2026+0000",
        "2026-05-28T20:26:40+00",
        "2026-05-28T24:00:00Z",
    ],
)
def test_times_without_an_offset_or_as_numbers_are_refused(value: object) -> None:
    with pytest.raises(ValidationError):
        Body.model_validate({"at": value})


@pytest.mark.parametrize(
    "value",
    [
        # In the year 10000 or 0 in UTC: stored, these could never be spelled back.
        "9999-12-31T23:00:00-01:00",
        "9999-12-31T23:59:59.9999Z",  # its millisecond rounds into the year 10000
        "0001-01-01T00:30:00+01:00",
    ],
)
def test_times_without_a_date_in_utc_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="years 1 to 9999"):
        Body.model_validate({"at": value})


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59.999Z", "0001-01-01T00:00:00Z"])
def test_the_first_and_last_millisecond_are_taken_and_spelled_back(value: str) -> None:
    ms = ms_or_none(Body.model_validate({"at": value}).at)
    assert ms is not None and api_time(ms).replace(".999000", ".999") == value
