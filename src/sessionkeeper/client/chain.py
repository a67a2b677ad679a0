"""The sessions a handle makes and the requests it sends them: data only.

A handle's sessions form a chain: the first, then a continuation after each real gap (its
``continues`` names the one before). Each :class:`Link` records what the server holds of its
session — whether the start has landed, its latest description, the newest evidence counted —
which is what decides the next request (:class:`Step`) and how a backlog is thinned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sessionkeeper.client.calls import Call
from sessionkeeper.client.evidence import as_datetime
from sessionkeeper.client.models import Session
from sessionkeeper.client.protocol import Status

StepKind = Literal["start", "policies", "beat", "beats", "describe", "end"]


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a kind's sessions beat and how long a silence ends them."""

    interval_s: float
    timeout_s: float


@dataclass(slots=True)
class Link:
    """One session of a handle's chain: the first, or a continuation of the one before."""

    id: str
    started_at: int
    continues: str | None = None
    stored: bool = False  # the server has acknowledged the start
    session: Session | None = None  # the server's latest description of it
    seen_at: int = 0  # the newest evidence the server holds for it
    # The ``started_at`` of every start sent for it. It changes only when the first is too
    # old to send again, and an attempt with an earlier one may have been stored unanswered.
    attempted: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.seen_at = self.started_at


@dataclass(frozen=True, slots=True)
class Step:
    """One request for the sender, and what it carries."""

    kind: StepKind
    call: Call[Any]
    link: Link
    ats: tuple[int, ...] = ()
    attributes: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class StartRequest:
    user_id: str
    kind: str
    label: str | None = None
    attributes: Mapping[str, Any] | None = None


@dataclass(slots=True)
class Outcome:
    """What the server's answers have decided so far."""

    closed_by_server: bool = False
    stopped: bool = False
    refusal: Exception | None = None  # the error that stopped delivery, if one did
    last_error: Exception | None = None
    failed_attempts: int = 0  # transient failures in all
    failures: int = 0  # transient failures since the last answer
    recorded: int = 0  # beats recorded in all
    dropped: int = 0  # beats given up: beyond the cap, too old, or refused


def provisional(link: Link, start: StartRequest, last_seen: int) -> Session:
    """The session as the client knows it while the server has not stored it yet: active,
    last seen at its newest beat."""
    return Session(
        id=link.id,
        user_id=start.user_id,
        kind=start.kind,
        label=start.label,
        source=None,
        attributes=dict(start.attributes or {}),
        status=Status.ACTIVE,
        end_reason=None,
        estimated=False,
        started_at=as_datetime(link.started_at),
        last_seen_at=as_datetime(max(last_seen, link.started_at)),
        expires_at=None,
        ended_at=None,
        duration_s=None,
        continues=link.continues,
    )
