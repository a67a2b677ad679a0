"""Field types shared by the request bodies of every router.

Write bodies reject unknown fields (a typo must not be silently dropped) and strings are not
coerced from numbers. Times are ISO 8601 with a UTC offset; a time without one is refused.
Each body lives beside its router; what they share is here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictStr,
)

from sessionkeeper.domain import attributes as attribute_rules
from sessionkeeper.domain.ids import ERASED_USER, KIND_PATTERN, MAX_SESSION_ID, SESSION_ID_PATTERN
from sessionkeeper.domain.subject import (
    MAX_SUBJECT_FIELDS,
    MAX_SUBJECT_VALUE_LENGTH,
    SUBJECT_FIELD_PATTERN,
    is_subject_field,
)
from sessionkeeper.domain.times import ISO_DATE, MAX_MS, MIN_MS, to_ms

MAX_KIND_CHARS = 64
# user_id and label.
MAX_TEXT_CHARS = 256
# The name of a presence source.
MAX_SOURCE_CHARS = 128
# Free text may hold anything but NUL, which PostgreSQL cannot store in a text column.
TEXT_PATTERN = r"^[^\x00]*$"


# The common spelling of a time (RFC 3339: seconds, up to six fractional digits, ``Z`` or
# ``±hh:mm``), which the standard library parses to the same instant as pydantic.
_COMMON_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|[+-]\d{2}:\d{2})"
)


def _iso_string_only(value: object) -> object:
    """Times are ISO 8601 strings; a bare number would be guessed as seconds or milliseconds.

    A string of the common spelling goes on as the standard library's ``datetime``, whose
    offset is a ``datetime.timezone``: converting it to milliseconds takes a fifth of the
    time the offset class of pydantic's own parse takes, and a batch converts a thousand.
    Every other string, and one the standard library refuses (a 25th hour), is left to
    pydantic, which parses it or says why not: what is accepted stays pydantic's."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    if _COMMON_TIME.fullmatch(value):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    return value


def _encodable(value: str) -> str:
    """Lone surrogates have no UTF-8 form: stored, they could never be sent back."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


def _not_erased(value: str) -> str:
    if value == ERASED_USER:
        raise ValueError(f"'{ERASED_USER}' is kept for the rooms of erased users")
    return value


def _representable(value: datetime) -> datetime:
    """A time is stored as its millisecond, which must have a date in UTC:
    ``9999-12-31T23:00:00-01:00`` is in the year 10000 there (as is the millisecond that
    ``…T23:59:59.9999Z`` rounds to), and stored, it could never be spelled back."""
    if not MIN_MS <= to_ms(value) <= MAX_MS:
        raise ValueError("must lie within the years 1 to 9999 in UTC")
    return value


ClientTime = Annotated[
    AwareDatetime, BeforeValidator(_iso_string_only), AfterValidator(_representable)
]
SessionId = Annotated[
    StrictStr, Field(max_length=MAX_SESSION_ID, pattern=SESSION_ID_PATTERN, examples=["game-42"])
]
UserId = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN, examples=["user-1"]),
    AfterValidator(_encodable),
    AfterValidator(_not_erased),
]
Kind = Annotated[StrictStr, Field(pattern=KIND_PATTERN, examples=["game"])]
Label = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN, examples=["Minecraft"]),
    AfterValidator(_encodable),
]
MAX_ATTRIBUTES_BYTES = attribute_rules.MAX_BYTES
MAX_ATTRIBUTES_DEPTH = attribute_rules.MAX_DEPTH
MAX_ATTRIBUTES_KEYS = attribute_rules.MAX_KEYS


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Attributes within the caps of ``domain/attributes.py`` (also checked on every merge)."""
    problem = attribute_rules.problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Attributes = Annotated[
    dict[str, Any], Field(max_length=attribute_rules.MAX_KEYS), AfterValidator(_storable)
]


def _subject_fields(value: dict[str, str]) -> dict[str, str]:
    for name in value:
        if not is_subject_field(name):
            raise ValueError(
                f"subject field {name!r} must match {SUBJECT_FIELD_PATTERN} "
                "(it is used as subject.<field> in filters and CSV columns)"
            )
    return value


SubjectValue = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_SUBJECT_VALUE_LENGTH, pattern=TEXT_PATTERN),
    AfterValidator(_encodable),
]
Subject = Annotated[
    dict[str, SubjectValue],
    Field(
        max_length=MAX_SUBJECT_FIELDS,
        description="Filterable ids the session is about: a flat object of strings",
        examples=[{"teacher_id": "t1", "student_id": "s9"}],
    ),
    AfterValidator(_subject_fields),
]


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


def ms_or_none(value: AwareDatetime | None) -> int | None:
    """Epoch milliseconds of an optional client time."""
    return None if value is None else to_ms(value)
