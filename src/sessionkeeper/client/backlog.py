"""The presence snapshots a reporter has taken but the server has not accepted yet.

Each snapshot keeps the time it was taken. A snapshot equal to the one before it shares that
one's entries, so a source whose state does not change costs one time per snapshot, not a copy
of its state. The backlog is thinned like a heartbeat backlog (see
:func:`sessionkeeper.client.evidence.thin`): a snapshot that changed something (someone came or
went) is always kept, and an unchanged one only where dropping it would leave a gap longer
than the timeout of the source's sessions. Beyond the caps the oldest are given up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sessionkeeper.client.evidence import bridges

Entries = list[dict[str, Any]]

DEFAULT_MAX_KEPT = 1000
# Entries kept in all, counting a state shared by several snapshots once.
MAX_KEPT_ENTRIES = 100_000


@dataclass(frozen=True, slots=True)
class Snapshot:
    at: int  # epoch ms on the client's clock, when it was taken
    entries: Entries


class Backlog:
    """Snapshots not yet accepted, oldest first; not thread-safe (a reporter holds a lock
    around it, or uses it from one event loop)."""

    def __init__(self, *, max_gap_ms: int, max_kept: int = DEFAULT_MAX_KEPT) -> None:
        if max_kept < 1:
            raise ValueError("max_kept must keep at least one snapshot")
        self.max_gap_ms = max_gap_ms
        self.max_kept = max_kept
        self.dropped = 0  # snapshots given up beyond the caps
        self._kept: list[Snapshot] = []
        self._accepted: Snapshot | None = None  # the newest one the server took
        self._entries = 0  # entries kept, a state shared by neighbours counted once

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, at: int, entries: Iterable[Mapping[str, Any]]) -> Snapshot:
        """Keep the state taken at ``at``; times are kept strictly increasing, since the
        server ignores a snapshot older than one it has applied."""
        state = [dict(entry) for entry in entries]
        kept = self._kept
        last = kept[-1] if kept else self._accepted
        if last is not None:
            at = max(at, last.at + 1)
            if state == last.entries:
                state = last.entries  # shared, not copied
        if kept:
            # The one before the new one may go if it said nothing new and the chain
            # reaches over it (see evidence.thin).
            before = kept[-2] if len(kept) > 1 else self._accepted
            if (
                before is not None
                and kept[-1].entries is before.entries
                and bridges(before.at, at, self.max_gap_ms)
            ):
                kept.pop()
        snapshot = Snapshot(at, state)
        if not kept or kept[-1].entries is not state:
            self._entries += len(state)
        kept.append(snapshot)
        while len(kept) > 1 and (len(kept) > self.max_kept or self._entries > MAX_KEPT_ENTRIES):
            self._remove_oldest()
            self.dropped += 1
        return snapshot

    def oldest(self) -> Snapshot | None:
        return self._kept[0] if self._kept else None

    def accepted(self, snapshot: Snapshot) -> None:
        """The server took ``snapshot`` (or found a newer state applied already)."""
        self._remove(snapshot)
        self._accepted = snapshot

    def refused(self, snapshot: Snapshot) -> None:
        """The server refused ``snapshot``: sending it again would be refused again."""
        self._remove(snapshot)

    def _remove(self, snapshot: Snapshot) -> None:
        """Forget ``snapshot`` if it is still kept. Snapshots are taken while one is being
        sent, and thinning or the caps may have let that one go meanwhile."""
        for index, kept in enumerate(self._kept):
            if kept is snapshot:
                self._remove_at(index)
                return

    def _remove_oldest(self) -> None:
        self._remove_at(0)

    def _remove_at(self, index: int) -> None:
        kept = self._kept
        gone = kept.pop(index)
        # Its entries stay counted while a neighbour shares them.
        neighbours = kept[max(0, index - 1) : index + 1]
        if all(other.entries is not gone.entries for other in neighbours):
            self._entries -= len(gone.entries)
