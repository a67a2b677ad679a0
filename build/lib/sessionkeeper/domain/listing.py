"""What a listing of sessions asks for: filters and the position of the next page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.times import to_ms


def _ms(value: datetime | None) -> int | None:
    """Epoch milliseconds of a filter time; a time without an offset is taken as UTC."""
    if value is None:
        return None
    return to_ms(value if value.tzinfo else value.replace(tzinfo=UTC))


@dataclass(frozen=True, slots=True)
class SessionFilter:
    status: Status | None = None
    kind: str | None = None
    user_id: str | None = None
    label: str | None = None
    source: str | None = None
    started_after: int | None = None
    started_before: int | None = None

    @classmethod
    def of(
        cls,
        *,
        status: Status | None = None,
        kind: str | None = None,
        user_id: str | None = None,
        label: str | None = None,
        source: str | None = None,
        started_after: datetime | None = None,
        started_before: datetime | None = None,
    ) -> SessionFilter:
        """The filter as the API and the CLI take it, with times as datetimes."""
        return cls(
            status=status,
            kind=kind,
            user_id=user_id,
            label=label,
            source=source,
            started_after=_ms(started_after),
            started_before=_ms(started_before),
        )


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page: newest first, ties broken by id."""

    started_at: int
    id: str
