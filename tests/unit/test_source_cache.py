"""The presence cache's bound and its rule of use (``services/source_cache.py``)."""

from __future__ import annotations

from sessionkeeper.domain.presence import OpenSessions
from sessionkeeper.services.source_cache import KnownSource, SourceCache


def _known(sessions: int, *, revision: int = 1, at: int = 1_000) -> KnownSource:
    rows = {(f"u{i}", "game", None): (f"s{i}", f"u{i}", "game", None, 0) for i in range(sessions)}
    return KnownSource(revision, at, 10_000, at - 1, OpenSessions(rows))


def test_usable_only_at_the_same_revision_and_before_the_shortest_timeout_passed() -> None:
    known = _known(3, revision=7, at=1_000)
    assert known.usable(7, 1_000) and known.usable(7, 11_000)
    assert not known.usable(8, 1_000)  # another change to the source's open sessions
    assert not known.usable(7, 11_001)  # one of them may be overdue: read and close it


def test_not_usable_while_a_session_has_a_beat_of_its_own_as_late_as_the_snapshot() -> None:
    own = _known(3, revision=7, at=1_000)
    late = KnownSource(7, 1_000, 10_000, 1_000, own.sessions)
    assert own.usable(7, 1_000) and not late.usable(7, 1_000)


def test_the_least_recently_used_sources_go_first_to_keep_the_bound() -> None:
    cache = SourceCache(capacity=10)
    cache.store((1, "a"), _known(4))
    cache.store((1, "b"), _known(4))
    assert cache.lookup((1, "a"), 1, 1_000) is not None  # a is now the most recent
    cache.store((1, "c"), _known(4))  # 12 > 10: b goes
    assert cache.known((1, "b")) is None
    assert cache.known((1, "a")) is not None and cache.known((1, "c")) is not None
    cache.store((1, "d"), _known(11))  # larger than the whole bound: not kept at all
    assert cache.known((1, "d")) is None
    assert (cache.stats.hits, cache.stats.misses) == (1, 0)


def test_a_bound_of_zero_keeps_nothing() -> None:
    cache = SourceCache(capacity=0)
    cache.store((1, "a"), _known(0))
    assert cache.known((1, "a")) is None
    assert cache.lookup((1, "a"), 1, 1_000) is None and cache.stats.misses == 1
