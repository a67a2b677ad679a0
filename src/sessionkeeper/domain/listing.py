"""What a listing of sessions asks for: filters and the position of the next page."""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.domain.lifecycle import Status


@dataclass(frozen=True, slots=True)
class SessionFilter:
    status: Status | None = None
    kind: str | None = None
    user_id: str | None = None
    label: str | None = None
    source: str | None = None
    started_after: int | None = None
    started_before: int | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last row of a page: newest first, ties broken by id."""

    started_at: int
    id: str
