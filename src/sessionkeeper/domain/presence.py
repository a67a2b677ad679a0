"""Reconciling a presence source's snapshot with its active sessions.

A source (a bot, a game server) reports who is doing what. An entry matches an active session
of the same source when user, kind and label are equal; a missing label matches only a missing
label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple, overload

PresenceKey = tuple[str, str, str | None]


# Snapshots carry thousands of these; named tuples are built several times faster than
# frozen dataclasses, which matters on the reconcile path.
class PresenceEntry(NamedTuple):
    user_id: str
    kind: str
    label: str | None = None
    attributes: Mapping[str, Any] = MappingProxyType({})

    @property
    def key(self) -> PresenceKey:
        return (self.user_id, self.kind, self.label)


class ActivePresence(NamedTuple):
    """An open session of the source, in the layout of the row storage reads it as."""

    session_id: str
    user_id: str
    kind: str
    label: str | None
    started_at: int

    @property
    def key(self) -> PresenceKey:
        return (self.user_id, self.kind, self.label)


# A source's open session as storage reads it: ``(session_id, user_id, kind, label,
# started_at, ...)``, fields past the fifth ignored. A snapshot compares thousands of them and
# changes a few, so the rules take the rows as they come and turn into an ActivePresence only
# the few they return (or those a caller reads, see :class:`Presences`).
ActiveRow = Sequence[Any]

_ROW_KEY = itemgetter(1, 2, 3)
# Of duplicate sessions the oldest is kept: ordered by start, then id.
_ROW_AGE = itemgetter(4, 0)


def row_key(row: ActiveRow) -> PresenceKey:
    """The presence an open session's row stands for: user, kind, label."""
    key: PresenceKey = _ROW_KEY(row)
    return key


def _presence(row: ActiveRow) -> ActivePresence:
    return ActivePresence(row[0], row[1], row[2], row[3], row[4])


class Presences(Sequence[ActivePresence]):
    """Rows read as :class:`ActivePresence` on access. A snapshot refreshes thousands of
    sessions and most callers only count them."""

    __slots__ = ("_rows",)

    def __init__(self, rows: Sequence[ActiveRow]) -> None:
        self._rows = rows

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> ActivePresence: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ActivePresence]: ...

    def __getitem__(self, index: int | slice) -> ActivePresence | Sequence[ActivePresence]:
        if isinstance(index, slice):
            return Presences(self._rows[index])
        return _presence(self._rows[index])

    def __iter__(self) -> Iterator[ActivePresence]:
        return map(_presence, self._rows)

    def __eq__(self, other: object) -> bool:
        # Equal to a list or tuple of the same sessions, as the list it stands for would be.
        if isinstance(other, Presences | list | tuple):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # equal to lists, so no hash either

    def __repr__(self) -> str:
        return f"Presences({list(self)!r})"


@dataclass(frozen=True, slots=True)
class PresenceDiff:
    to_start: list[PresenceEntry]
    to_refresh: Sequence[ActivePresence]
    to_end: list[ActivePresence]

    @property
    def is_empty(self) -> bool:
        return not (self.to_start or self.to_refresh or self.to_end)


# An entry's key from its first three fields, without a Python call per entry: snapshots
# carry thousands of entries.
_KEY_OF = itemgetter(0, 1, 2)


def _by_key(entries: Iterable[PresenceEntry]) -> dict[PresenceKey, PresenceEntry]:
    """One entry per key; a later entry of the same key wins (it is the newer state)."""
    entries = list(entries)
    return dict(zip(map(_KEY_OF, entries), entries, strict=True))


def dedupe(entries: Iterable[PresenceEntry]) -> list[PresenceEntry]:
    """One entry per key; a later entry of the same key wins (it is the newer state)."""
    return list(_by_key(entries).values())


def _split_duplicates(
    active: Sequence[ActiveRow],
) -> tuple[dict[PresenceKey, ActiveRow], list[ActiveRow]]:
    """Keep the oldest active session per key; any other is a duplicate to close.

    Duplicates can only arise when two servers start the same presence at once; closing the
    younger keeps the time counted once.
    """
    kept: dict[PresenceKey, ActiveRow] = dict(zip(map(_ROW_KEY, active), active, strict=True))
    if len(kept) == len(active):  # the usual case: no duplicates
        return kept, []
    kept = {}
    extra: list[ActiveRow] = []
    for row in active:  # one pass: no sort of thousands of sessions for a rare case
        key = _ROW_KEY(row)
        other = kept.get(key)
        if other is None:
            kept[key] = row
        elif _ROW_AGE(row) < _ROW_AGE(other):
            kept[key] = row
            extra.append(other)
        else:
            extra.append(row)
    return kept, extra


@dataclass(frozen=True, slots=True)
class OpenSessions:
    """A source's open sessions as the diffs take them: one per key (the oldest), and the
    duplicates beside them, which are to end. Made once per read of the source, or kept from
    one snapshot to the next by a process that holds it in memory."""

    kept: Mapping[PresenceKey, ActiveRow]
    extra: Sequence[ActiveRow] = ()

    @classmethod
    def of(cls, active: Sequence[ActiveRow] | OpenSessions) -> OpenSessions:
        if isinstance(active, OpenSessions):
            return active
        kept, extra = _split_duplicates(active)
        return cls(kept, extra)


class _Listed(Sequence[ActiveRow]):
    """The kept rows whose key a snapshot lists, in the order read, found on first access.

    A snapshot refreshes thousands of sessions and most callers only count them; the count
    is known without the pass."""

    __slots__ = ("_count", "_kept", "_rows", "_wanted")

    def __init__(
        self,
        kept: Mapping[PresenceKey, ActiveRow],
        wanted: Mapping[PresenceKey, PresenceEntry],
        count: int,
    ) -> None:
        self._kept = kept
        self._wanted = wanted
        self._count = count
        self._rows: list[ActiveRow] | None = None

    def _list(self) -> list[ActiveRow]:
        if self._rows is None:
            self._rows = [row for key, row in self._kept.items() if key in self._wanted]
        return self._rows

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> ActiveRow: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ActiveRow]: ...

    def __getitem__(self, index: int | slice) -> ActiveRow | Sequence[ActiveRow]:
        return self._list()[index]

    def __iter__(self) -> Iterator[ActiveRow]:
        return iter(self._list())


def diff_snapshot(
    entries: Iterable[PresenceEntry], active: Sequence[ActiveRow] | OpenSessions
) -> PresenceDiff:
    """What applying a full snapshot changes: missing sessions end, new entries start."""
    wanted = _by_key(entries)
    open_sessions = OpenSessions.of(active)
    kept, extra = open_sessions.kept, open_sessions.extra
    to_start = [entry for key, entry in wanted.items() if key not in kept]
    # The few that left, by a set difference in C; ordered by age, as duplicates are judged.
    gone = sorted(map(kept.__getitem__, kept.keys() - wanted.keys()), key=_ROW_AGE)
    to_refresh = _Listed(kept, wanted, len(kept) - len(gone))
    return PresenceDiff(to_start, Presences(to_refresh), list(map(_presence, [*gone, *extra])))


def diff_changes(
    joins: Iterable[PresenceEntry],
    leaves: Iterable[PresenceKey],
    active: Sequence[ActiveRow] | OpenSessions,
    *,
    keepalive: bool = False,
) -> PresenceDiff:
    """What incremental joins and leaves change; a key both joining and leaving leaves.

    With ``keepalive`` the change set also says every other session of the source is still
    there: each one it does not end is refreshed.
    """
    open_sessions = OpenSessions.of(active)
    kept, extra = open_sessions.kept, open_sessions.extra
    leaving = set(leaves)
    to_start: list[PresenceEntry] = []
    joined: list[ActiveRow] = []
    for entry in dedupe(joins):
        if entry.key in leaving:
            continue
        if entry.key in kept:
            joined.append(kept[entry.key])
        else:
            to_start.append(entry)
    to_end = [*(kept[key] for key in leaving if key in kept), *extra]
    if keepalive:
        # Every duplicate ends, so what stays open is among the kept.
        ending = {row[0] for row in to_end}
        joined = [row for row in kept.values() if row[0] not in ending]
    return PresenceDiff(to_start, Presences(joined), list(map(_presence, to_end)))


DiffFunction = Callable[[OpenSessions], PresenceDiff]
