"""The pure rules of links and of tracker reports, table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionkeeper.links import rules
from sessionkeeper.links.rules import TOLERANCE_MS, Counters

APPS = ["zoommtg", "msteams"]


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://zoom.us/j/1", True),
        ("http://127.0.0.1:8000/x?y=1#z", True),
        ("zoommtg://zoom.us/join?confno=1", True),
        ("MSTEAMS:/l/meetup-join/x", True),
        ("javascript:alert(1)", False),
        ("JavaScript:alert(1)", False),
        ("data:text/html,x", False),
        ("vbscript:x", False),
        ("file:///etc/passwd", False),
        ("https://", False),
        ("https:///path", False),
        ("//zoom.us/j/1", False),
        ("https://a.example/ b", False),
        ('https://a.example/"onload=', False),
        ("https://a.example/\x00", False),
        ("x" * 3000, False),
    ],
)
def test_targets(url: str, ok: bool) -> None:
    assert (rules.target_problem(url, APPS) is None) is ok


@pytest.mark.parametrize(
    ("agent", "family"),
    [
        ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36", "Chrome"),
        (
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131",
            "Edge",
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox"),
        ("Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15", "Safari"),
        ("Googlebot/2.1", "bot"),
        ("", "other"),
        (None, "other"),
    ],
)
def test_user_agent_family(agent: str | None, family: str) -> None:
    assert rules.user_agent_family(agent) == family


def test_usable() -> None:
    kw = {"deleted": False, "expires_at": None, "now": 10, "used": False, "reusable": True}
    assert rules.usable_problem(**kw) is None  # type: ignore[arg-type]
    assert rules.usable_problem(**{**kw, "deleted": True}) is not None  # type: ignore[arg-type]
    assert rules.usable_problem(**{**kw, "expires_at": 10}) is not None  # type: ignore[arg-type]
    assert rules.usable_problem(**{**kw, "expires_at": 11}) is None  # type: ignore[arg-type]
    used = {**kw, "used": True}
    assert rules.usable_problem(**used) is None  # type: ignore[arg-type]
    assert rules.usable_problem(**{**used, "reusable": False}) is not None  # type: ignore[arg-type]


counters = st.builds(
    Counters,
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 1000),
)


@given(counters, st.lists(st.tuples(counters, st.integers(0, 10**6)), max_size=8))
def test_merge_never_goes_back_and_never_outruns_the_clock(
    start: Counters, reports: list[tuple[Counters, int]]
) -> None:
    lived = 10**8
    state = rules.merge(Counters(), start, 10**8, lived)
    for reported, elapsed in reports:
        lived += elapsed
        after = rules.merge(state, reported, elapsed, lived)
        for name in ("engaged_ms", "visible_ms", "wall_ms", "seq"):
            assert getattr(after, name) >= getattr(state, name)
        assert after.wall_ms - state.wall_ms <= elapsed + TOLERANCE_MS
        assert after.engaged_ms <= max(after.visible_ms, state.engaged_ms)
        assert after.visible_ms <= max(after.wall_ms, state.visible_ms)
        # Nothing is ever credited beyond what some report said: duplicates are harmless.
        for name in ("engaged_ms", "visible_ms", "wall_ms"):
            assert getattr(after, name) <= max(getattr(state, name), getattr(reported, name))
        state = after


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=6), st.permutations(range(6)))
def test_reordered_reports_end_at_the_same_totals(totals: list[int], order: list[int]) -> None:
    """Running totals sent in any order (with time enough elapsed) end at the largest."""
    reports = [Counters(t, t, t, i) for i, t in enumerate(sorted(totals))]
    shuffled = [reports[i] for i in order if i < len(reports)]
    state = Counters()
    for report in shuffled:
        state = rules.merge(state, report, 10**7, 10**7)
    assert state == reports[-1]


@given(st.lists(st.integers(0, 10**6), max_size=40))
def test_the_tolerance_of_many_reports_does_not_add_up(elapsed: list[int]) -> None:
    """Each report may run a little ahead of the clock, but all of them together no further
    than once: every total stays within the session's life plus one tolerance."""
    state, lived = Counters(), 0
    for step, gone in enumerate(elapsed, start=1):
        lived += gone
        ahead = state.wall_ms + gone + TOLERANCE_MS
        state = rules.merge(state, Counters(ahead, ahead, ahead, step), gone, lived)
        assert state.wall_ms <= lived + TOLERANCE_MS


def test_origins() -> None:
    assert rules.origin_of("HTTPS://School.Example/") == "https://school.example"
    assert rules.origin_of("null") is None and rules.origin_of(None) is None
