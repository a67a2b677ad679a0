from __future__ import annotations

import pytest

from sessionkeeper.domain.policy import (
    DEFAULT_KIND,
    DEFAULT_POLICY,
    PolicyError,
    build_policy,
    resolve_policy,
)


def test_defaults_follow_the_heartbeat_interval() -> None:
    assert DEFAULT_POLICY.heartbeat_interval_s == 60
    assert DEFAULT_POLICY.timeout_s == 300
    assert DEFAULT_POLICY.grace_s == 30
    p = build_policy(heartbeat_interval_s=10)
    assert (p.timeout_s, p.grace_s) == (50, 5)


def test_a_grace_of_the_whole_interval_is_allowed() -> None:
    assert build_policy(60, 300, 60).grace_ms == 60_000


def test_one_second_policies_are_allowed() -> None:
    p = build_policy(1, 1, 0.5)
    assert (p.timeout_ms, p.grace_ms) == (1000, 500)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ((0.5, None, None), "heartbeat_interval_s"),
        ((60, 30, None), "timeout_s"),
        ((60, 300, 301), "grace_s"),
        ((60, 300, -1), "grace_s"),
        # More grace than the interval: an estimated end after the next beat was due.
        ((1, 5, 3), "grace_s"),
        ((60, 300, 60.5), "grace_s"),
    ],
)
def test_inconsistent_policies_name_the_field(
    args: tuple[float | None, float | None, float | None], field: str
) -> None:
    with pytest.raises(PolicyError) as info:
        build_policy(*args)
    assert info.value.field == field


def test_resolution_prefers_kind_then_tenant_default_then_builtin() -> None:
    game = build_policy(30)
    tenant_default = build_policy(120)
    assert resolve_policy({"game": game, DEFAULT_KIND: tenant_default}, "game") == game
    assert resolve_policy({"game": game, DEFAULT_KIND: tenant_default}, "voice") == tenant_default
    assert resolve_policy({}, "voice") == DEFAULT_POLICY
