from __future__ import annotations

from sessionkeeper.domain.presence import (
    ActivePresence,
    PresenceEntry,
    diff_changes,
    diff_snapshot,
)


def active(sid: str, user: str, kind: str, label: str | None, started: int = 0) -> ActivePresence:
    return ActivePresence(session_id=sid, key=(user, kind, label), started_at=started)


def test_snapshot_starts_refreshes_and_ends() -> None:
    current = [active("s1", "u1", "game", "Doom"), active("s2", "u2", "voice", "General")]
    entries = [PresenceEntry("u1", "game", "Doom"), PresenceEntry("u3", "game", "Chess")]
    diff = diff_snapshot(entries, current)
    assert [e.key for e in diff.to_start] == [("u3", "game", "Chess")]
    assert [a.session_id for a in diff.to_refresh] == ["s1"]
    assert [a.session_id for a in diff.to_end] == ["s2"]


def test_switching_game_is_one_end_and_one_start() -> None:
    diff = diff_snapshot(
        [PresenceEntry("u1", "game", "Quake")], [active("s1", "u1", "game", "Doom")]
    )
    assert [e.label for e in diff.to_start] == ["Quake"]
    assert [a.session_id for a in diff.to_end] == ["s1"]
    assert diff.to_refresh == []


def test_missing_label_matches_only_missing_label() -> None:
    diff = diff_snapshot([PresenceEntry("u1", "game")], [active("s1", "u1", "game", "Doom")])
    assert len(diff.to_start) == 1 and len(diff.to_end) == 1


def test_same_snapshot_twice_only_refreshes() -> None:
    entries = [PresenceEntry("u1", "game", "Doom")]
    diff = diff_snapshot(entries, [active("s1", "u1", "game", "Doom")])
    assert diff.to_start == [] and diff.to_end == []
    assert [a.session_id for a in diff.to_refresh] == ["s1"]


def test_duplicate_entries_collapse_and_duplicate_sessions_close_the_younger() -> None:
    entries = [PresenceEntry("u1", "game", "Doom"), PresenceEntry("u1", "game", "Doom")]
    current = [active("young", "u1", "game", "Doom", 50), active("old", "u1", "game", "Doom", 10)]
    diff = diff_snapshot(entries, current)
    assert [a.session_id for a in diff.to_refresh] == ["old"]
    assert [a.session_id for a in diff.to_end] == ["young"]
    assert diff.to_start == []


def test_empty_snapshot_ends_everything() -> None:
    diff = diff_snapshot([], [active("s1", "u1", "game", "Doom")])
    assert [a.session_id for a in diff.to_end] == ["s1"]


def test_changes_join_leave_and_rejoin() -> None:
    current = [active("s1", "u1", "voice", "General")]
    diff = diff_changes(
        joins=[PresenceEntry("u1", "voice", "General"), PresenceEntry("u2", "voice", "General")],
        leaves=[("u3", "voice", "General")],
        active=current,
    )
    assert [e.user_id for e in diff.to_start] == ["u2"]
    assert [a.session_id for a in diff.to_refresh] == ["s1"]
    assert diff.to_end == []
    left = diff_changes([], [("u1", "voice", "General")], current)
    assert [a.session_id for a in left.to_end] == ["s1"]


def test_a_key_that_joins_and_leaves_in_one_change_set_leaves() -> None:
    diff = diff_changes(
        [PresenceEntry("u1", "voice", "General")],
        [("u1", "voice", "General")],
        [active("s1", "u1", "voice", "General")],
    )
    assert diff.to_start == [] and [a.session_id for a in diff.to_end] == ["s1"]
