"""Migration 0011: an ``expires_at`` of a link or an invitation stored before client times were
bounded, as a millisecond of the year 10000, made every listing holding it fail; the migration
moves it to the last representable millisecond, and the listings answer again. On both
databases."""

from __future__ import annotations

from sessionkeeper.links.tables import links
from sessionkeeper.rooms.tables import room_invites
from sessionkeeper.storage.migrate import downgrade
from tests.support import T0, Harness, iso

# 9999-12-31T23:00:00-01:00, as it was stored: an hour into the year 10000 in UTC.
YEAR_10000 = 253402300800000 + 3_600_000


async def test_expiries_beyond_9999_are_brought_back_by_the_migration(api_any: Harness) -> None:
    api = api_any
    expires_at = iso(T0 + 86_400_000)
    link = {"target_url": "https://example.com/", "kind": "lk", "mode": "redirect"}
    link["expires_at"] = expires_at
    assert (await api.post("/v1/links", link)).status_code == 201
    room = {"id": "lobby", "kind": "lobby", "created_by": "host"}
    assert (await api.post("/v1/rooms", room)).status_code == 201
    made = await api.post("/v1/rooms/lobby/invites", {"expires_at": expires_at})
    assert made.status_code == 201
    engine = api.runtime.db.write_engine
    with engine.begin() as conn:
        for table in (links, room_invites):
            conn.execute(table.update().values(expires_at=YEAR_10000))
    # As a database stood before the migration.
    downgrade(engine, "0010")
    assert api.runtime.db.migrate()[0] == "0011"  # and those after it

    listed = await api.get("/v1/links")
    assert listed.status_code == 200, listed.text
    last = "9999-12-31T23:59:59.999000Z"
    assert [item["expires_at"] for item in listed.json()["items"]] == [last]
    invite = await api.get(f"/v1/invites/{made.json()['token']}")
    assert invite.status_code == 200, invite.text
    assert invite.json()["expires_at"] == last
