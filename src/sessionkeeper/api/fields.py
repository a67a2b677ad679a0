"""Field types shared by the request bodies of every router.

Write bodies reject unknown fields (a typo must not be silently dropped) and strings are not
coerced from numbers. Times are ISO 8601 with a UTC offset; a time without one is refused.
Each body lives beside its router; what they share is here.
"""

from __future__ import annotations

import json
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

from sessionkeeper.domain.ids import MAX_SESSION_ID, SESSION_ID_PATTERN
from sessionkeeper.domain.times import to_ms

MAX_KIND_CHARS = 64
KIND_PATTERN = rf"^[A-Za-z0-9_.:-]{{1,{MAX_KIND_CHARS}}}$"
# user_id and label.
MAX_TEXT_CHARS = 256
# The name of a presence source.
MAX_SOURCE_CHARS = 128
# Free text may hold anything but NUL, which PostgreSQL cannot store in a text column.
TEXT_PATTERN = r"^[^\x00]*$"
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_string_only(value: object) -> object:
    """Times are ISO 8601 strings; a bare number would be guessed as seconds or milliseconds."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date-time string with a UTC offset")
    return value


def _encodable(value: str) -> str:
    """Lone surrogates have no UTF-8 form: stored, they could never be sent back."""
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from exc
    return value


ClientTime = Annotated[AwareDatetime, BeforeValidator(_iso_string_only)]
SessionId = Annotated[
    StrictStr, Field(max_length=MAX_SESSION_ID, pattern=SESSION_ID_PATTERN, examples=["game-42"])
]
UserId = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN, examples=["user-1"]),
    AfterValidator(_encodable),
]
Kind = Annotated[StrictStr, Field(pattern=KIND_PATTERN, examples=["game"])]
Label = Annotated[
    StrictStr,
    Field(min_length=1, max_length=MAX_TEXT_CHARS, pattern=TEXT_PATTERN, examples=["Minecraft"]),
    AfterValidator(_encodable),
]
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_ATTRIBUTES_DEPTH = 32
MAX_ATTRIBUTES_KEYS = 100


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


def _storable(value: dict[str, Any]) -> dict[str, Any]:
    """Attributes that can be stored and sent back unchanged: encodable as UTF-8 JSON,
    finite numbers, bounded in depth and size. Anything else would be acknowledged and then
    fail on every later read."""
    if _depth(value) > MAX_ATTRIBUTES_DEPTH:
        raise ValueError(f"attributes nest deeper than {MAX_ATTRIBUTES_DEPTH} levels")
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError) as exc:
        raise ValueError(f"attributes are not storable JSON: {exc}") from exc
    if len(encoded) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes are larger than {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


Attributes = Annotated[
    dict[str, Any], Field(max_length=MAX_ATTRIBUTES_KEYS), AfterValidator(_storable)
]


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")


def ms_or_none(value: AwareDatetime | None) -> int | None:
    """Epoch milliseconds of an optional client time."""
    return None if value is None else to_ms(value)
