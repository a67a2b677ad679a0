"""Evidence the client keeps while the server cannot take it: its times, and how a backlog
of it is thinned to bounded memory without breaking a chain.

Everything the client tells the server about time — a heartbeat, an end, a presence snapshot —
carries the moment it was made (``at``), on the client's clock, kept as epoch milliseconds. A
piece of evidence that could not be delivered is still true later: sent with its own ``at``,
the server applies it as history (late evidence), not as the present.

A backlog is thinned, never truncated at random. The server counts a heartbeat made while the
session was alive — no later than ``timeout`` after the evidence before it — so from a run of
beats only those are needed that keep each gap (from the last evidence the server holds, and
between kept beats) within the timeout: dropping any other beat loses no time at all. Only
when even the thinned backlog exceeds its hard cap are the oldest items given up, which the
server sees as a real gap.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta

from sessionkeeper.client.protocol import MAX_PAST_S

# Older evidence is refused, so the client gives it up a little before the server's window
# ends rather than have it refused.
MAX_PAST_MS = MAX_PAST_S * 1000
PAST_MARGIN_MS = 60 * 1000


def now_ms() -> int:
    """The client's wall clock: evidence is dated by it, never by the monotonic clock, so
    that a suspended process (whose monotonic clock may stand still) shows its gap."""
    return time.time_ns() // 1_000_000


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def as_datetime(ms: int) -> datetime:
    # Integer arithmetic: the server reads back exactly these milliseconds, so a gap kept at
    # exactly the timeout is not stretched by a rounding error.
    return EPOCH + timedelta(milliseconds=ms)


def as_ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def oldest_sendable(now: int) -> int:
    """Evidence older than this would be refused as too far in the past."""
    return now - MAX_PAST_MS + PAST_MARGIN_MS


def bridges(before: int | None, after: int, max_gap: int) -> bool:
    """Whether the evidence between ``before`` and ``after`` may go: keeping both, the chain
    still reaches from one to the other within ``max_gap``."""
    return before is not None and after - before <= max_gap


def thin(ats: Sequence[int], *, anchor: int | None, max_gap: int) -> list[int]:
    """The indexes of ``ats`` (ascending times) to keep.

    ``anchor`` is the time of the last evidence the server already holds (None: nothing yet,
    so the first item is kept). An item is dropped when the item after it is still within
    ``max_gap`` of the last one kept, so every gap that was at most ``max_gap`` stays so, and a
    longer gap (a real one) keeps both its ends. The newest item is always kept: it is the
    latest evidence. Adding items one by one and dropping the one before the newest whenever
    :func:`bridges` allows it keeps exactly the same ones.
    """
    kept: list[int] = []
    last = anchor
    final = len(ats) - 1
    for index, at in enumerate(ats):
        if index == final or not bridges(last, ats[index + 1], max_gap):
            kept.append(index)
            last = at
    return kept


class Beats:
    """The beats of one session not yet delivered, ascending, thinned as they come and capped.

    Kept as 64-bit integers in an array: a long outage costs 8 bytes a beat.
    """

    def __init__(self, max_pending: int) -> None:
        self.max_pending = max_pending
        self.capped = 0  # beats given up beyond the cap
        self._ats = array("q")

    def __len__(self) -> int:
        return len(self._ats)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ats)

    def restore(self, ats: Iterable[int]) -> None:
        """Take back beats kept earlier (already thinned), replacing any held."""
        self._ats = array("q", sorted(ats))

    def oldest(self) -> int:
        return self._ats[0]

    def batch(self, limit: int) -> tuple[int, ...]:
        """The oldest up to ``limit``, all but the newest (which goes alone, with its answer
        describing the session)."""
        return tuple(self._ats[: min(len(self._ats) - 1, limit)])

    def add(self, at: int, *, anchor: int, max_gap: int) -> bool:
        """Append a beat, thinning as it goes: the one before it may go when the chain reaches
        over it (from the one before that, or from ``anchor``, the newest the server holds) —
        what :func:`thin` keeps, in O(1). Beyond the cap the oldest goes: returns True then."""
        ats = self._ats
        if ats and bridges(ats[-2] if len(ats) > 1 else anchor, at, max_gap):
            ats.pop()
        ats.append(at)
        if len(ats) <= self.max_pending:
            return False
        del ats[0]
        self.capped += 1
        return True

    def rethin(self, *, anchor: int, max_gap: int) -> None:
        kept = thin(self._ats, anchor=anchor, max_gap=max_gap)
        self._ats = array("q", (self._ats[i] for i in kept))

    def forget(self, through: int) -> None:
        """Drop the beats up to ``through``: delivered, or superseded."""
        keep = next((i for i, at in enumerate(self._ats) if at > through), len(self._ats))
        del self._ats[:keep]

    def remove(self, at: int) -> None:
        self._ats = array("q", (kept for kept in self._ats if kept != at))

    def older_than(self, floor: int) -> int:
        """Drop the beats older than ``floor``; returns how many."""
        old = sum(1 for at in self._ats if at < floor)
        del self._ats[:old]
        return old

    def pop_oldest(self) -> int:
        return self._ats.pop(0)

    def clear(self) -> None:
        self._ats = array("q")
