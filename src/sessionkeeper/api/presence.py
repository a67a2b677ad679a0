"""Presence sources: full snapshots (PUT) and incremental changes (POST)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Path, Query
from pydantic import BaseModel, Discriminator, Field, StrictBool, Tag

from sessionkeeper.api.deps import IngestScope, ServicesDep
from sessionkeeper.api.errors import UNION_TAG_PREFIX
from sessionkeeper.api.fields import (
    MAX_SOURCE_CHARS,
    Attributes,
    ClientTime,
    Kind,
    Label,
    UserId,
    WriteBody,
    ms_or_none,
)
from sessionkeeper.api.routing import api_router
from sessionkeeper.api.strict_json import StrictJSONRoute
from sessionkeeper.domain.presence import PresenceEntry
from sessionkeeper.domain.times import from_ms
from sessionkeeper.services.presence import PresenceOutcome

router = api_router(prefix="/v1/presence", tags=["presence"], route_class=StrictJSONRoute)

SourceName = Annotated[str, Path(pattern=rf"^[A-Za-z0-9_.:-]{{1,{MAX_SOURCE_CHARS}}}$")]
MAX_ENTRIES = 10_000


class Entry(WriteBody):
    user_id: UserId
    kind: Kind
    label: Label | None = None
    attributes: Attributes | None = None

    def to_domain(self) -> PresenceEntry:
        return PresenceEntry(self.user_id, self.kind, self.label, self.attributes or {})


class Leave(WriteBody):
    user_id: UserId
    kind: Kind
    label: Label | None = None


EntryList = Annotated[list[Entry], Field(max_length=MAX_ENTRIES)]


class Snapshot(WriteBody):
    entries: EntryList
    at: ClientTime | None = Field(default=None, description="When the snapshot was taken")


def _body_shape(value: object) -> str:
    return UNION_TAG_PREFIX + ("list" if isinstance(value, list) else "object")


# A snapshot is either a bare list of entries or an object. Choosing the branch by the body's
# shape makes a mistake in the body report only that branch's errors, not both.
SnapshotBody = Annotated[
    Annotated[Snapshot, Tag(UNION_TAG_PREFIX + "object")]
    | Annotated[EntryList, Tag(UNION_TAG_PREFIX + "list")],
    Discriminator(_body_shape),
]


class Changes(WriteBody):
    joins: EntryList = []
    leaves: Annotated[list[Leave], Field(max_length=MAX_ENTRIES)] = []
    at: ClientTime | None = None
    keepalive: StrictBool = Field(
        default=False, description="Also refresh every other open session of the source"
    )


class EntryRef(BaseModel):
    user_id: str
    kind: str
    label: str | None


class SessionRef(EntryRef):
    session_id: str


class PresenceSummary(BaseModel):
    """What a snapshot or change set did, in counts only (``?reply=summary``)."""

    source: str
    at: datetime
    dry_run: bool
    stale: bool = Field(
        description="A newer snapshot or change set of this source was applied already; "
        "this one changed nothing"
    )
    started_count: int
    refreshed_count: int
    ended_count: int
    timed_out_count: int = Field(description="Sessions of the source that had expired meanwhile")

    @classmethod
    def of(cls, source: str, outcome: PresenceOutcome, *, dry_run: bool) -> PresenceSummary:
        diff = outcome.diff
        return cls(
            source=source,
            at=from_ms(outcome.at),
            dry_run=dry_run,
            stale=outcome.stale,
            started_count=len(diff.to_start),
            refreshed_count=len(diff.to_refresh),
            ended_count=len(diff.to_end),
            timed_out_count=outcome.timed_out,
        )


class PresenceResult(PresenceSummary):
    """The counts, and every entry started, refreshed and ended (``?reply=full``)."""

    to_start: list[EntryRef]
    to_refresh: list[SessionRef]
    to_end: list[SessionRef]
    started: list[str] = Field(description="Ids of the sessions started")

    @classmethod
    def of(cls, source: str, outcome: PresenceOutcome, *, dry_run: bool) -> PresenceResult:
        diff = outcome.diff
        return cls(
            **PresenceSummary.of(source, outcome, dry_run=dry_run).model_dump(),
            to_start=[
                EntryRef(user_id=e.user_id, kind=e.kind, label=e.label) for e in diff.to_start
            ],
            to_refresh=[_ref(a.session_id, a.key) for a in diff.to_refresh],
            to_end=[_ref(a.session_id, a.key) for a in diff.to_end],
            started=outcome.started_ids,
        )


Reply = Annotated[
    Literal["full", "summary"],
    Query(
        description="full: every entry started, refreshed and ended; summary: counts only "
        "(a steady 10,000-entry snapshot answers in a few hundred bytes)"
    ),
]


def _reply(
    source: str, outcome: PresenceOutcome, *, dry_run: bool, reply: str
) -> PresenceResult | PresenceSummary:
    if reply == "summary":
        return PresenceSummary.of(source, outcome, dry_run=dry_run)
    return PresenceResult.of(source, outcome, dry_run=dry_run)


def _ref(session_id: str, key: tuple[str, str, str | None]) -> SessionRef:
    return SessionRef(session_id=session_id, user_id=key[0], kind=key[1], label=key[2])


@router.put("/{source}", response_model=PresenceResult | PresenceSummary)
async def put_presence_snapshot(
    source: SourceName,
    body: SnapshotBody,
    principal: IngestScope,
    services: ServicesDep,
    dry_run: bool = False,
    reply: Reply = "full",
) -> PresenceResult | PresenceSummary:
    """The full current state of one source: a list of entries, or ``{"entries": [...],
    "at": ...}``. Missing sessions end (``presence_lost``), new entries start, the rest are
    refreshed. ``?dry_run=true`` returns the diff and changes nothing."""
    snapshot = Snapshot.model_construct(entries=body, at=None) if isinstance(body, list) else body
    outcome = await services.presence.snapshot(
        principal,
        source,
        [entry.to_domain() for entry in snapshot.entries],
        at=ms_or_none(snapshot.at),
        dry_run=dry_run,
    )
    return _reply(source, outcome, dry_run=dry_run, reply=reply)


@router.post("/{source}/changes", response_model=PresenceResult | PresenceSummary)
async def post_presence_changes(
    source: SourceName,
    body: Changes,
    principal: IngestScope,
    services: ServicesDep,
    dry_run: bool = False,
    reply: Reply = "full",
) -> PresenceResult | PresenceSummary:
    """Incremental joins and leaves, matched like snapshot entries."""
    outcome = await services.presence.changes(
        principal,
        source,
        [entry.to_domain() for entry in body.joins],
        [(leave.user_id, leave.kind, leave.label) for leave in body.leaves],
        at=ms_or_none(body.at),
        keepalive=body.keepalive,
        dry_run=dry_run,
    )
    return _reply(source, outcome, dry_run=dry_run, reply=reply)
