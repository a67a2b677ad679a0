"""The body of ``GET /v1/metrics/quality``."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from sessionkeeper.domain.times import seconds_of
from sessionkeeper.quality.rules import GroupReport
from sessionkeeper.quality.service import QualityReport


class ReasonOut(BaseModel):
    sessions: int
    time_s: float


class QualityGroupOut(BaseModel):
    key: str = Field(description="The kind, the source (api for none) or the local day")
    sessions: int = Field(description="Sessions of the group that ended in the window")
    time_s: float = Field(description="Their total duration")
    by_reason: dict[str, ReasonOut] = Field(
        description="Sessions and time by how they ended: client, timeout, presence_lost, "
        "cleanup, admin"
    )
    estimated_share: float | None = Field(description="Share of the time from estimated ends")
    mean_bound_width_s: float | None = Field(
        description="Mean width of the sessions' duration_bounds_s: how unsure each one is"
    )
    amended: int = Field(description="Sessions corrected by late evidence")
    continuations: int = Field(description="Sessions that continue one after a real gap")
    lost_end_share: float | None = Field(
        description="Share of the sessions whose end nobody reported (timeout, cleanup)"
    )

    @classmethod
    def of(cls, group: GroupReport) -> QualityGroupOut:
        return cls(
            key=group.key,
            sessions=group.sessions,
            time_s=group.time_ms / 1000,
            by_reason={
                reason.value: ReasonOut(sessions=totals.sessions, time_s=totals.time_ms / 1000)
                for reason, totals in group.by_reason.items()
            },
            estimated_share=group.estimated_share,
            mean_bound_width_s=seconds_of(group.mean_bound_width_ms),
            amended=group.amended,
            continuations=group.continuations,
            lost_end_share=group.lost_end_share,
        )


class WorstOut(BaseModel):
    key: str
    lost_end_share: float | None
    sessions: int


class QualityOut(BaseModel):
    from_day: date = Field(description="First local day of the window")
    to_day: date = Field(description="Last local day (today)")
    group_by: str
    groups: list[QualityGroupOut]
    worst: list[WorstOut] = Field(
        description="The groups whose sessions lose their end most often, worst first"
    )

    @classmethod
    def of(cls, report: QualityReport) -> QualityOut:
        return cls(
            from_day=report.first,
            to_day=report.last,
            group_by=report.group_by.value,
            groups=[QualityGroupOut.of(group) for group in report.groups],
            worst=[
                WorstOut(key=g.key, lost_end_share=g.lost_end_share, sessions=g.sessions)
                for g in report.worst
            ],
        )
