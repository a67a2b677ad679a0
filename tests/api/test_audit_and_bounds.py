"""Duration bounds on sessions and in the export, and the audit log of actions by hand."""

from __future__ import annotations

import csv
import io

from tests.support import Harness


async def test_sessions_carry_their_duration_bounds(api_any: Harness) -> None:
    api = api_any
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    for sid in ("exact", "crashed"):
        await api.post("/v1/sessions", {"id": sid, "user_id": "u", "kind": "app"})
    assert (await api.get("/v1/sessions/exact")).json()["duration_bounds_s"] is None
    api.advance(8)
    await api.post("/v1/sessions/crashed/heartbeat")
    ended = (await api.post("/v1/sessions/exact/end")).json()
    assert ended["duration_bounds_s"] == [8.0, 8.0]
    api.advance(60)  # crashed: last seen at 8 s, the next beat was due at 18 s
    crashed = (await api.get("/v1/sessions/crashed")).json()
    assert (crashed["duration_s"], crashed["duration_bounds_s"]) == (13.0, [8.0, 18.0])
    export = (await api.get("/v1/sessions/export.csv")).text
    rows = {row["id"]: row for row in csv.DictReader(io.StringIO(export))}
    assert (rows["crashed"]["duration_low_s"], rows["crashed"]["duration_high_s"]) == (
        "8.0",
        "18.0",
    )
    assert rows["exact"]["duration_low_s"] == rows["exact"]["duration_high_s"] == "8.0"


async def test_actions_by_hand_are_in_the_audit_log_of_their_tenant_only(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "app"})
    await api.post("/v1/sessions/s/end", {"reason": "admin"})
    await api.post("/v1/sessions/s/end", {"reason": "client"})  # not by hand: not logged
    await api.post("/v1/maintenance/sweep")
    page = (await api.get("/v1/audit")).json()
    actions = [(e["action"], e["target"]) for e in page["items"]]
    assert actions == [("sweep.run", None), ("session.end", "s")]
    assert all(e["actor"].startswith("api_key:") for e in page["items"])
    assert (await api.get("/v1/audit", action="session.end")).json()["items"][0]["target"] == "s"
    first = (await api.get("/v1/audit", limit=1)).json()
    assert len(first["items"]) == 1 and first["next_before"] is not None
    rest = (await api.get("/v1/audit", before=first["next_before"])).json()
    assert [e["action"] for e in rest["items"]] == ["session.end"]
    # The largest id is a bound, not a failure; one past it is refused (ids: docs/admin.md).
    assert (await api.get("/v1/audit", before=2**52 - 1)).status_code == 200
    for too_far in (2**52, 2**63):
        refused = await api.get("/v1/audit", before=too_far)
        assert refused.status_code == 422 and refused.json()["field"] == "before"
    # Another tenant sees none of it; read keys see no audit log at all.
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    assert (await api.client.get("/v1/audit", headers=other)).json()["items"] == []
    assert (await api.get("/v1/audit", scope="read")).status_code == 403
