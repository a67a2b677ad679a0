"""Beats applied together key the rows they read back by position: the tenant, then the id."""

from __future__ import annotations

import pytest

from sessionkeeper.storage import heartbeats


@pytest.mark.parametrize("reading", [heartbeats._WHOLE, heartbeats._STATE])
def test_every_reading_begins_with_the_tenant_and_the_id(
    reading: heartbeats._Reading,  # type: ignore[type-arg]
) -> None:
    for columns in (reading.returned, reading.selected):
        assert [column.name for column in columns[:2]] == ["tenant_id", "id"]


def test_the_state_of_a_row_is_read_by_position() -> None:
    names = [column.name for column in heartbeats._STATE.returned]
    assert names == ["tenant_id", "id", "status", "last_seen_at", "expires_at"]
    assert [c.name for c in heartbeats._STATE.selected] == names
