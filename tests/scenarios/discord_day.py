"""The scripted truth of a Discord community's day, and what a tracker can see of it.

``generate_day`` makes, from a seed, every activity span of 50 members: games (switching
straight from one to another at times), voice channels (switching channels), streaming inside a
voice channel, and Spotify (no label). Times are to the second, not aligned to the tracker's
60 s ticks.

``expected_pieces`` turns one span into the sessions sessionkeeper must hold for it, given the
snapshot times the tracker actually delivered and whether its immediate pushes got through:

- a span starts at its pushed join, else at the first delivered snapshot that shows it;
- it ends at its pushed leave, else at the first delivered snapshot without it (exact, so the
  error against the truth is below one snapshot interval);
- when two observations of a span lie more than ``timeout`` apart (a long tracker outage), the
  session timed out at ``last observation + grace`` (estimated) and the next observation starts
  a new one;
- a span no delivered observation saw (it lay entirely inside an outage) leaves no session.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect_left
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.scenarios.presence_support import GRACE_MS, TIMEOUT_MS, Key

MINUTE = 60_000
MIN_SPAN_MS = 6 * MINUTE  # also the shortest gap between two spans of the same key

GAMES = [
    "Minecraft",
    "Valorant",
    "League of Legends",
    "Counter-Strike 2",
    "Factorio",
    "Rocket League",
    "Dota 2",
    "Stardew Valley",
]
CHANNELS = ["General", "Gaming", "Music", "Chill"]
TRACKS = ["Around the World", "Harder Better", "Digital Love", "One More Time", "Veridis Quo"]


@dataclass(frozen=True)
class Span:
    """One activity as it really happened: ``[start, end)`` in epoch ms."""

    user_id: str
    kind: str
    label: str | None
    start: int
    end: int
    pushed_start: bool = False  # the tracker pushes the join at once via /changes
    pushed_end: bool = False  # the tracker pushes the leave at once via /changes
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def key(self) -> Key:
        return (self.user_id, self.kind, self.label)

    def present_at(self, t: int) -> bool:
        return self.start <= t < self.end

    def entry(self) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": self.user_id, "kind": self.kind}
        if self.label is not None:
            body["label"] = self.label
        if self.attributes:
            body["attributes"] = dict(self.attributes)
        return body

    def leave(self) -> dict[str, Any]:
        body: dict[str, Any] = {"user_id": self.user_id, "kind": self.kind}
        if self.label is not None:
            body["label"] = self.label
        return body


def _seconds(rng: random.Random, low_min: float, high_min: float) -> int:
    return rng.randint(int(low_min * 60), int(high_min * 60)) * 1000


def _runs(
    rng: random.Random,
    start: int,
    end: int,
    on: tuple[float, float],
    off: tuple[float, float],
    switch: float = 0.3,
) -> Iterator[tuple[int, int, bool]]:
    """Busy periods ``(start, end, follows_directly)``: a period either follows the previous
    one at once (a switch, with probability ``switch``) or after an idle gap of ``off``
    minutes."""
    t = start + _seconds(rng, 0, 90)
    follows = False
    while True:
        e = min(t + _seconds(rng, *on), end)
        if e - t < MIN_SPAN_MS:
            return
        yield t, e, follows
        follows = rng.random() < switch
        t = e if follows else e + _seconds(rng, *off)


def _games(rng: random.Random, user: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    label: str | None = None
    for s, e, follows in _runs(rng, start, end, on=(8, 100), off=(6, 90)):
        # A switch goes to another game; after a break any game, the last one included.
        label = rng.choice([g for g in GAMES if g != label] if follows else GAMES)
        spans.append(Span(user, "game", label, s, e, attributes={"state": "In Game"}))
    return spans


def _voice(rng: random.Random, user: str, start: int, end: int) -> list[Span]:
    spans: list[Span] = []
    channel: str | None = None
    leave_pushed = False
    for s, e, follows in _runs(rng, start, end, on=(6, 150), off=(6, 60)):
        channel = rng.choice([c for c in CHANNELS if c != channel] if follows else CHANNELS)
        # A channel switch is one event: its leave and join are pushed together or not at all.
        join_pushed = leave_pushed if follows else rng.random() < 0.7
        leave_pushed = rng.random() < 0.7
        spans.append(
            Span(user, "voice", channel, s, e, pushed_start=join_pushed, pushed_end=leave_pushed)
        )
        if e - s >= 20 * MINUTE and rng.random() < 0.35:
            s2 = s + _seconds(rng, 1, (e - s) / MINUTE / 3)
            e2 = e - _seconds(rng, 0, 5)
            if e2 - s2 >= MIN_SPAN_MS:
                spans.append(Span(user, "streaming", channel, s2, e2))
    return spans


def _spotify(rng: random.Random, user: str, start: int, end: int) -> list[Span]:
    return [
        Span(user, "spotify", None, s, e, attributes={"track": rng.choice(TRACKS)})
        for s, e, _ in _runs(rng, start, end, on=(6, 60), off=(6, 60), switch=0)
    ]


def generate_day(seed: int, start: int, last_end: int, members: int = 50) -> list[Span]:
    """Every activity span of ``members`` members between ``start`` and ``last_end``."""
    rng = random.Random(seed)
    spans: list[Span] = []
    for i in range(members):
        user = f"member-{i:02d}"
        if rng.random() < 0.85:
            spans += _games(rng, user, start, last_end)
        if rng.random() < 0.65:
            spans += _voice(rng, user, start, last_end)
        if rng.random() < 0.5:
            spans += _spotify(rng, user, start, last_end)
    check_gaps(spans)
    return spans


def check_gaps(spans: list[Span]) -> None:
    """Spans of one key never overlap and lie at least MIN_SPAN_MS apart."""
    by_key: dict[Key, list[Span]] = {}
    for span in spans:
        by_key.setdefault(span.key, []).append(span)
    for key, group in by_key.items():
        group.sort(key=lambda s: s.start)
        for a, b in itertools.pairwise(group):
            assert b.start - a.end >= MIN_SPAN_MS, (key, a, b)


@dataclass(frozen=True)
class Piece:
    """One session sessionkeeper must hold for a span."""

    span: Span
    started_at: int
    ended_at: int
    last_seen: int
    timed_out: bool


def expected_pieces(
    span: Span, snapshots: list[int], push_delivered: Callable[[int], bool]
) -> list[Piece]:
    """The sessions a span leaves, given the delivered snapshot times (sorted)."""
    seen = snapshots[bisect_left(snapshots, span.start) : bisect_left(snapshots, span.end)]
    if span.pushed_start and push_delivered(span.start):
        seen = sorted({span.start, *seen})
    if span.pushed_end and push_delivered(span.end):
        gone = span.end
    else:
        gone = snapshots[bisect_left(snapshots, span.end)]
    if not seen:
        return []
    pieces: list[Piece] = []
    first = last = seen[0]
    for t in seen[1:]:
        if t - last > TIMEOUT_MS:
            pieces.append(Piece(span, first, last + GRACE_MS, last, timed_out=True))
            first = t
        last = t
    if gone - last > TIMEOUT_MS:
        pieces.append(Piece(span, first, last + GRACE_MS, last, timed_out=True))
    else:
        pieces.append(Piece(span, first, gone, last, timed_out=False))
    return pieces
