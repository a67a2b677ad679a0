"""The permutation behind the ids of keys, tenants, audit entries and delivery cursors."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionkeeper.domain.principal import shown_actor
from sessionkeeper.domain.public_ids import MAX_PUBLIC_ID, IdPermutation, PublicIds

KEY = bytes(range(32))
IDS = PublicIds.of(KEY)
ROW_IDS = st.integers(min_value=1, max_value=MAX_PUBLIC_ID)


@given(ROW_IDS)
def test_every_row_id_comes_back_from_its_public_id(row_id: int) -> None:
    for kind in (IDS.keys, IDS.tenants, IDS.audit, IDS.deliveries):
        shown = kind.public(row_id)
        assert 1 <= shown <= MAX_PUBLIC_ID
        assert kind.row(shown) == row_id


@given(ROW_IDS)
def test_every_number_an_id_can_be_stands_for_one_row(public_id: int) -> None:
    row_id = IDS.keys.row(public_id)
    assert row_id is not None and 1 <= row_id <= MAX_PUBLIC_ID
    assert IDS.keys.public(row_id) == public_id


def test_consecutive_rows_show_unrelated_ids() -> None:
    shown = [IDS.keys.public(row_id) for row_id in range(1, 1001)]
    assert len(set(shown)) == 1000
    # Neither the order nor the gaps follow the rows': about half of the steps go down.
    downs = sum(b < a for a, b in itertools.pairwise(shown))
    assert 400 < downs < 600
    assert not any(abs(b - a) < 1000 for a, b in itertools.pairwise(shown))


def test_each_kind_and_each_server_has_its_own_permutation() -> None:
    rows = range(1, 101)
    keys = [IDS.keys.public(r) for r in rows]
    assert not set(keys) & {IDS.audit.public(r) for r in rows}
    assert not set(keys) & {IDS.tenants.public(r) for r in rows}
    other_server = PublicIds.of(bytes(32))
    assert not set(keys) & {other_server.keys.public(r) for r in rows}
    assert PublicIds.of(KEY) == IDS  # the same key always shows the same ids


def test_numbers_no_id_can_be_are_refused() -> None:
    for number in (0, -1, MAX_PUBLIC_ID + 1, 2**63):
        assert IDS.keys.row(number) is None
        with pytest.raises(ValueError):
            IDS.keys.public(number)
    with pytest.raises(ValueError):
        IdPermutation(b"short", "keys")
    with pytest.raises(ValueError):
        IdPermutation(KEY, "a kind longer than sixteen bytes")


def test_an_actor_names_its_key_by_the_public_id() -> None:
    assert shown_actor("api_key:12", IDS) == f"api_key:{IDS.keys.public(12)}"
    assert shown_actor("dashboard_login:3", IDS) == f"dashboard_login:{IDS.keys.public(3)}"
    # A user's token names the user, whatever it looks like; the operator names no key.
    for actor in ("end_user_token:12", "operator", "api_key:", "api_key:x1", "invite:7"):
        assert shown_actor(actor, IDS) == actor
