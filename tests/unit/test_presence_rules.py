from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sessionkeeper.domain.presence import (
    ActivePresence,
    PresenceEntry,
    diff_changes,
    diff_snapshot,
)


def active(sid: str, user: str, kind: str, label: str | None, started: int = 0) -> ActivePresence:
    return ActivePresence(sid, user, kind, label, started)


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


def test_keepalive_refreshes_every_session_it_does_not_end() -> None:
    current = [
        active("s1", "u1", "voice", "General"),
        active("s2", "u2", "voice", "General"),
        active("s3", "u3", "voice", "General"),
    ]
    diff = diff_changes([], [("u2", "voice", "General")], current, keepalive=True)
    assert [a.session_id for a in diff.to_refresh] == ["s1", "s3"]
    assert [a.session_id for a in diff.to_end] == ["s2"]


def test_refreshed_sessions_read_as_presences_by_index_slice_and_iteration() -> None:
    rows = [("s1", "u1", "game", "Doom", 5, 99), ("s2", "u2", "game", None, 7, 99)]
    diff = diff_snapshot([PresenceEntry("u1", "game", "Doom"), PresenceEntry("u2", "game")], rows)
    assert len(diff.to_refresh) == 2
    assert diff.to_refresh[1] == ActivePresence("s2", "u2", "game", None, 7)
    assert diff.to_refresh[1].key == ("u2", "game", None)
    assert diff.to_refresh[:1] == [ActivePresence("s1", "u1", "game", "Doom", 5)]
    assert diff.to_refresh != [ActivePresence("s1", "u1", "game", "Doom", 5)]
    assert [a.session_id for a in diff.to_refresh] == ["s1", "s2"]


_KEYS = st.tuples(
    st.sampled_from(["u1", "u2", "u3"]),
    st.sampled_from(["game", "voice"]),
    st.sampled_from(["Doom", "", None]),
)


@settings(max_examples=300, deadline=None)
@given(
    wanted=st.lists(_KEYS, max_size=8),
    current=st.lists(st.tuples(_KEYS, st.integers(0, 3)), max_size=8),
)
def test_a_snapshot_diff_equals_the_rule_written_plainly(
    wanted: list[tuple[str, str, str | None]],
    current: list[tuple[tuple[str, str, str | None], int]],
) -> None:
    """The fast diff against the rule spelled out: the oldest session of a key (by start, then
    id) is kept and every other ends; a kept session whose key is listed is refreshed, one
    not listed ends; a listed key with no kept session starts, with its last entry."""
    sessions = [active(f"s{i}", *key, started) for i, (key, started) in enumerate(current)]
    entries = [PresenceEntry(*key, attributes={"n": i}) for i, key in enumerate(wanted)]
    diff = diff_snapshot(entries, sessions)

    oldest: dict[tuple[str, str, str | None], ActivePresence] = {}
    for item in sorted(sessions, key=lambda a: (a.started_at, a.session_id)):
        oldest.setdefault(item.key, item)
    last_entry = {entry.key: entry for entry in entries}
    assert {a.session_id for a in diff.to_refresh} == {
        a.session_id for key, a in oldest.items() if key in last_entry
    }
    assert sorted(a.session_id for a in diff.to_end) == sorted(
        a.session_id for a in sessions if oldest[a.key] is not a or a.key not in last_entry
    )
    assert diff.to_start == [e for key, e in last_entry.items() if key not in oldest]
