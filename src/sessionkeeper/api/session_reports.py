"""Session statistics and the CSV export, with the listing's filters.

This router is included before the sessions router: ``/v1/sessions/stats`` and
``/v1/sessions/export.csv`` must not be taken for ``/v1/sessions/{session_id}`` (and no
session can be started with those ids).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from sessionkeeper.api.deps import ReadScope, ServicesDep
from sessionkeeper.api.errors import PROBLEM_RESPONSES
from sessionkeeper.api.filters import FILTER_PARAMETERS, FILTERS_DOC, session_filter
from sessionkeeper.api.routing import api_router
from sessionkeeper.domain.export import parse_subject_fields
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.stats import Counts, GroupBy, SessionStats
from sessionkeeper.domain.times import seconds_of

router = api_router(prefix="/v1", tags=["sessions"], responses=PROBLEM_RESPONSES)

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"

# The ``subject.<field>`` columns of an export (``domain/export.parse_subject_fields``).
SubjectFieldsQuery = Annotated[
    str | None,
    Query(
        max_length=4096,
        description="Comma-separated subject fields to export as columns "
        "(default: every field the sessions use, up to 64)",
    ),
]


class StatsCounts(BaseModel):
    total: int = Field(description="Sessions matching the filters")
    active: int = Field(description="Active and not overdue")
    ended: int
    timed_out: int = Field(description="Including overdue sessions the sweep has yet to close")
    expired: int
    total_duration_s: float = Field(description="Sum of the closed sessions' durations")
    estimated_s: float = Field(description="The part of the total from estimated ends")
    bounds_s: tuple[float, float] = Field(
        description="[low, high]: where the true total lies (the sums of the sessions' "
        "duration_bounds_s)"
    )
    average_duration_s: float | None = Field(description="Mean duration of closed sessions")
    p50_duration_s: float | None = Field(description="Median duration (nearest rank)")
    p95_duration_s: float | None = Field(description="95th percentile (nearest rank)")

    @classmethod
    def values(cls, counts: Counts) -> dict[str, object]:
        return {
            "total": counts.total,
            "active": counts.active,
            "ended": counts.ended,
            "timed_out": counts.timed_out,
            "expired": counts.expired,
            "total_duration_s": counts.total_duration_ms / 1000,
            "estimated_s": counts.estimated_duration_ms / 1000,
            "bounds_s": (counts.bounds_ms[0] / 1000, counts.bounds_ms[1] / 1000),
            "average_duration_s": seconds_of(counts.average_duration_ms),
            "p50_duration_s": seconds_of(counts.p50_duration_ms),
            "p95_duration_s": seconds_of(counts.p95_duration_ms),
        }


class StatsGroup(StatsCounts):
    key: str | None = Field(
        description="The kind, the UTC day (2026-11-21) or the subject field's value; "
        "null for sessions without that subject field"
    )


class SessionStatsOut(StatsCounts):
    group_by: str | None
    groups: list[StatsGroup]
    truncated: bool = Field(description="More groups than the 1,000 listed")

    @classmethod
    def of(cls, stats: SessionStats) -> SessionStatsOut:
        return cls.model_validate(
            {
                **StatsCounts.values(stats.overall),
                "group_by": None if stats.group_by is None else stats.group_by.name,
                "groups": [
                    {"key": group.key, **StatsCounts.values(group.counts)} for group in stats.groups
                ],
                "truncated": stats.truncated,
            }
        )


@router.get(
    "/sessions/stats",
    response_model=SessionStatsOut,
    openapi_extra=FILTER_PARAMETERS,
    description="Counts and durations of the sessions matching the filters, overall and per "
    "group. " + FILTERS_DOC,
)
async def session_stats(
    principal: ReadScope,
    services: ServicesDep,
    where: Annotated[SessionFilter, Depends(session_filter("group_by"))],
    group_by: Annotated[
        str | None,
        Query(max_length=80, description="kind, day (UTC, of the start) or subject.<field>"),
    ] = None,
) -> SessionStatsOut:
    grouping = None if group_by is None else GroupBy.parse(group_by)
    return SessionStatsOut.of(await services.reports.stats(principal, where, grouping))


@router.get(
    "/sessions/export.csv",
    response_class=StreamingResponse,
    openapi_extra=FILTER_PARAMETERS,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    description="Every session matching the filters as RFC 4180 CSV, oldest first, streamed "
    "(no row limit). " + FILTERS_DOC,
)
async def export_sessions(
    principal: ReadScope,
    services: ServicesDep,
    where: Annotated[SessionFilter, Depends(session_filter("subject_fields"))],
    subject_fields: SubjectFieldsQuery = None,
) -> StreamingResponse:
    chunks = await services.reports.export_csv(
        principal, where, parse_subject_fields(subject_fields)
    )
    return StreamingResponse(
        _encoded(chunks),
        media_type=CSV_MEDIA_TYPE,
        headers={"Content-Disposition": 'attachment; filename="sessions.csv"'},
    )


async def _encoded(chunks: AsyncIterator[str]) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        yield chunk.encode()
