"""Reconciling a presence source's snapshot with its active sessions.

A source (a bot, a game server) reports who is doing what. An entry matches an active session
of the same source when user, kind and label are equal; a missing label matches only a missing
label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import itemgetter
from types import MappingProxyType
from typing import Any, NamedTuple

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
    session_id: str
    key: PresenceKey
    started_at: int


@dataclass(frozen=True, slots=True)
class PresenceDiff:
    to_start: list[PresenceEntry]
    to_refresh: list[ActivePresence]
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
    active: Iterable[ActivePresence],
) -> tuple[dict[PresenceKey, ActivePresence], list[ActivePresence]]:
    """Keep the oldest active session per key; any other is a duplicate to close.

    Duplicates can only arise when two servers start the same presence at once; closing the
    younger keeps the time counted once.
    """
    active = list(active)
    kept = {item.key: item for item in active}
    if len(kept) == len(active):  # the usual case: no duplicates
        return kept, []
    kept = {}
    extra: list[ActivePresence] = []
    for item in active:  # one pass: no sort of thousands of sessions for a rare case
        other = kept.get(item.key)
        if other is None:
            kept[item.key] = item
        elif (item.started_at, item.session_id) < (other.started_at, other.session_id):
            kept[item.key] = item
            extra.append(other)
        else:
            extra.append(item)
    return kept, extra


def diff_snapshot(
    entries: Iterable[PresenceEntry], active: Iterable[ActivePresence]
) -> PresenceDiff:
    """What applying a full snapshot changes: missing sessions end, new entries start."""
    wanted = _by_key(entries)
    kept, extra = _split_duplicates(active)
    to_start = [entry for key, entry in wanted.items() if key not in kept]
    to_refresh = [item for key, item in kept.items() if key in wanted]
    to_end = [item for key, item in kept.items() if key not in wanted] + extra
    return PresenceDiff(to_start=to_start, to_refresh=to_refresh, to_end=to_end)


def diff_changes(
    joins: Iterable[PresenceEntry],
    leaves: Iterable[PresenceKey],
    active: Iterable[ActivePresence],
) -> PresenceDiff:
    """What incremental joins and leaves change; a key both joining and leaving leaves."""
    kept, extra = _split_duplicates(active)
    leaving = set(leaves)
    to_start: list[PresenceEntry] = []
    to_refresh: list[ActivePresence] = []
    for entry in dedupe(joins):
        if entry.key in leaving:
            continue
        if entry.key in kept:
            to_refresh.append(kept[entry.key])
        else:
            to_start.append(entry)
    to_end = [kept[key] for key in leaving if key in kept] + extra
    return PresenceDiff(to_start=to_start, to_refresh=to_refresh, to_end=to_end)


DiffFunction = Callable[[list[ActivePresence]], PresenceDiff]
