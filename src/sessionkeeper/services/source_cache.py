"""The open sessions of presence sources, kept in memory from one snapshot to the next.

A snapshot of a settled source changes a few of its thousands of sessions, yet reading them
all was a third of its cost, and building the map the diff matches against another part. A
process that applied a source's snapshot knows what the source holds open after it: the
sessions it matched, minus those it ended, plus those it started. It keeps that, stamped with
the source's ``revision`` as its own transaction left it, and uses it for the next snapshot
only when both hold:

- the revision is unchanged. The database moves it on every change to one of the source's
  open sessions (triggers, migration 0010), whatever path or process made it, so an equal
  revision means the rows are the ones this process last wrote;
- nothing can be overdue yet. A session the snapshot left open whose own last beat is older
  than the snapshot takes its deadline from the snapshot, a timeout after it (``deadline_after``
  in ``storage/source_beats.py``); one it started expires a timeout after its start
  (``lifecycle.start``). So up to the snapshot time plus the shortest of their timeouts none
  is overdue. A session whose own beat is as late as the snapshot (a snapshot sent with an
  older ``at`` than a heartbeat of its own) keeps its own deadline, which a policy change
  does not move; while there is one, the cache is not used. Past the bound, the source is
  read and the overdue are closed as before.

Otherwise the snapshot reads the source as before. The entries are bounded by the number of
sessions they hold together (``presence_cache_sessions``), least recently used out first.
A state is stored only once its transaction has committed (``Transaction.after_commit``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

from sessionkeeper.domain.presence import ActiveRow, OpenSessions, PresenceDiff
from sessionkeeper.domain.session import NewSession
from sessionkeeper.storage.presence import OPEN_ROW

SourceKey = tuple[int, str]  # (tenant id, source)


@dataclass(frozen=True, slots=True)
class KnownSource:
    """A source's open sessions right after a snapshot applied at ``beat_at`` committed."""

    revision: int
    beat_at: int
    # The shortest timeout among the open sessions: none expires before beat_at plus it...
    shortest_timeout_ms: int
    # ...provided every one the snapshot found open had its own last beat before beat_at.
    latest_own_beat_at: int
    sessions: OpenSessions

    def usable(self, revision: int, at: int) -> bool:
        return (
            revision == self.revision
            and self.latest_own_beat_at < self.beat_at
            and at <= self.beat_at + self.shortest_timeout_ms
        )


@dataclass(slots=True)
class CacheStats:
    hits: int = 0
    misses: int = 0


class SourceCache:
    """What :class:`KnownSource` each source was left in, at most ``capacity`` sessions in all.

    Used by the writer thread; the lock only guards against a second writer (tests that
    open two runtimes in one process)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.stats = CacheStats()
        self._known: OrderedDict[SourceKey, KnownSource] = OrderedDict()
        self._held = 0
        self._lock = threading.Lock()

    def lookup(self, key: SourceKey, revision: int, at: int) -> KnownSource | None:
        with self._lock:
            known = self._known.get(key)
            if known is None or not known.usable(revision, at):
                self.stats.misses += 1
                return None
            self._known.move_to_end(key)
            self.stats.hits += 1
            return known

    def known(self, key: SourceKey) -> KnownSource | None:
        """What is kept for ``key``, usable or not (no lookup is counted)."""
        with self._lock:
            return self._known.get(key)

    def store(self, key: SourceKey, known: KnownSource) -> None:
        size = len(known.sessions.kept)
        with self._lock:
            self._forget(key)
            if not self.capacity or size > self.capacity:
                return
            self._known[key] = known
            self._held += size
            while self._held > self.capacity:
                oldest = next(iter(self._known))
                self._forget(oldest)

    def forget(self, key: SourceKey) -> None:
        with self._lock:
            self._forget(key)

    def _forget(self, key: SourceKey) -> None:
        known = self._known.pop(key, None)
        if known is not None:
            self._held -= len(known.sessions.kept)


# No open session: nothing can be overdue, however late the next snapshot.
_NOTHING_OPEN_MS = 2**62
_TIMEOUT_OF = itemgetter(OPEN_ROW.index("timeout_ms"))
_OWN_BEAT_OF = itemgetter(OPEN_ROW.index("own_last_seen_at"))


@dataclass(frozen=True, slots=True)
class Bounds:
    """Of the open sessions a snapshot matched: their shortest timeout, their latest own beat."""

    shortest_timeout_ms: int
    latest_own_beat_at: int

    @classmethod
    def of_rows(cls, rows: Sequence[ActiveRow]) -> Bounds:
        """Of open sessions read as ``storage/presence.py`` reads them."""
        return cls(
            min(map(_TIMEOUT_OF, rows), default=_NOTHING_OPEN_MS),
            max(map(_OWN_BEAT_OF, rows), default=-1),
        )

    @classmethod
    def of_known(cls, known: KnownSource) -> Bounds:
        # No session's own beat moved since (the revision says so), and the sessions the
        # last snapshot started expire by their start, not by a beat of their own.
        return cls(known.shortest_timeout_ms, known.latest_own_beat_at)


def after_snapshot(
    before: OpenSessions,
    bounds: Bounds,
    diff: PresenceDiff,
    news: Sequence[NewSession],
    revision: int,
    at: int,
) -> KnownSource:
    """What the source holds open once a snapshot at ``at`` that matched ``before`` commits:
    what it matched but did not end, and what it started."""
    kept = dict(before.kept)  # ``before`` may be answered from, and is never changed
    for ended in diff.to_end:
        if kept.get(ended.key, (None,))[0] == ended.session_id:
            del kept[ended.key]
    for new in news:
        kept[(new.user_id, new.kind, new.label)] = _open_row(new)
    # Ending sessions can only raise the shortest timeout: the old one still bounds it. The
    # started ones are left out of the latest own beat: their deadline is their start's.
    shortest = min([bounds.shortest_timeout_ms, *(new.timeout_ms for new in news)])
    return KnownSource(revision, at, shortest, bounds.latest_own_beat_at, OpenSessions(kept))


def _open_row(new: NewSession) -> ActiveRow:
    """A session just started, laid out as ``storage/presence.py`` reads open sessions."""
    values = {
        "id": new.id,
        "user_id": new.user_id,
        "kind": new.kind,
        "label": new.label,
        "started_at": new.started_at,
        "expires_at": new.started_at + new.timeout_ms,  # ``lifecycle.start``
        "timeout_ms": new.timeout_ms,
        "own_last_seen_at": new.started_at,
    }
    return tuple(values[name] for name in OPEN_ROW)
