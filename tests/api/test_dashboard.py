"""The admin dashboard in process: login, cookies, CSRF, pages, the CSV and the actions."""

from __future__ import annotations

import re

import httpx

from sessionkeeper.dashboard.rules import COOKIE, LOGIN_COOKIE
from sessionkeeper.rollups.bundle import Rollups
from tests.support import T0, Harness, iso

HTML = "text/html"


async def login_token(api: Harness) -> str:
    page = await api.client.get("/admin/login")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def log_in(api: Harness, key: str | None = None, **extra: str) -> httpx.Response:
    token = await login_token(api)
    form = {"csrf": token, "key": key or api.keys["admin"], "next": "/admin", **extra}
    return await api.client.post("/admin/login", data=form)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


async def test_pages_send_a_visitor_without_login_to_the_login_page(api: Harness) -> None:
    for path in ("/admin", "/admin/sessions", "/admin/rooms", "/admin/audit", "/admin/sessions/x"):
        answer = await api.client.get(path)
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/admin/login?next=")
    # htmx polling is told where to go instead of getting an error it would log.
    polled = await api.client.get("/admin/fragments/counters", headers={"HX-Request": "true"})
    assert (polled.status_code, polled.headers["HX-Redirect"]) == (200, "/admin/login")
    # An action without a login changes nothing.
    await api.post("/v1/sessions", {"id": "s", "user_id": "u", "kind": "app"})
    assert (await api.client.post("/admin/sessions/s/end", data={})).status_code == 303
    assert (await api.get("/v1/sessions/s")).json()["status"] == "active"


async def test_login_sets_a_signed_strict_http_only_cookie_without_the_key(api: Harness) -> None:
    answer = await log_in(api)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    header = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and COOKIE + "=" in v
    )
    lowered = header.lower()
    assert "httponly" in lowered and "samesite=strict" in lowered and "max-age=" in lowered
    assert "secure" not in lowered  # plain HTTP here; HTTPS sets Secure
    assert api.keys["admin"] not in header
    overview = await api.client.get("/admin")
    assert overview.status_code == 200 and HTML in overview.headers["content-type"]
    assert "Active now" in overview.text
    assert "frame-ancestors 'none'" in overview.headers["content-security-policy"]


async def test_a_forged_or_tampered_cookie_is_no_login(api: Harness) -> None:
    await log_in(api)
    good = api.client.cookies.get(COOKIE, path="/admin")
    assert good is not None
    body, mac = good.split(".")
    api.client.cookies.clear()
    api.client.cookies.set(COOKIE, body + "." + mac[::-1], path="/admin")
    assert (await api.client.get("/admin")).status_code == 303


async def test_login_refuses_unknown_keys_non_admin_keys_and_a_missing_form_token(
    api: Harness,
) -> None:
    assert (await log_in(api, "sk_not_a_key")).status_code == 401
    refused = await log_in(api, api.keys["read"])
    assert refused.status_code == 403 and "admin key" in refused.text
    api.client.cookies.clear()
    no_token = await api.client.post("/admin/login", data={"key": api.keys["admin"]})
    assert no_token.status_code == 403
    assert COOKIE + "=" not in no_token.headers.get("set-cookie", "")
    assert LOGIN_COOKIE in no_token.headers.get("set-cookie", "")  # a fresh form


async def test_a_revoked_key_logs_its_dashboard_user_out(api: Harness) -> None:
    key = api.new_key("default", "admin")
    await log_in(api, key)
    assert (await api.client.get("/admin")).status_code == 200
    key_id = (await api.client.get("/v1/keys", headers=api.auth())).json()["items"][-1]["id"]
    assert (await api.client.delete(f"/v1/keys/{key_id}", headers=api.auth())).status_code == 200
    assert (await api.client.get("/admin")).status_code == 303


async def test_actions_need_the_csrf_token(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "s1", "user_id": "u", "kind": "app"})
    await log_in(api)
    refused = await api.client.post("/admin/sessions/s1/end", data={})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf_failed"
    wrong = await api.client.post("/admin/actions/sweep", data={"csrf": "forged"})
    assert wrong.status_code == 403
    assert (await api.get("/v1/sessions/s1")).json()["status"] == "active"
    assert (await api.get("/v1/audit")).json()["items"] == []


async def test_end_by_hand_reaches_the_audit_log(api_any: Harness) -> None:
    api = api_any
    await api.post("/v1/sessions", {"id": "s1", "user_id": "alice", "kind": "app"})
    await log_in(api)
    confirm = await api.client.get("/admin/sessions/s1/end")
    assert confirm.status_code == 200 and "End the session" in confirm.text
    done = await api.client.post("/admin/sessions/s1/end", data={"csrf": csrf_of(confirm.text)})
    assert done.status_code == 303
    session = (await api.get("/v1/sessions/s1")).json()
    assert (session["status"], session["end_reason"]) == ("ended", "admin")
    entry = (await api.get("/v1/audit")).json()["items"][0]
    assert (entry["action"], entry["target"]) == ("session.end", "s1")
    assert entry["actor"].startswith("dashboard_login:")
    audit = await api.client.get("/admin/audit")
    assert "session.end" in audit.text and "s1" in audit.text


async def test_sweep_and_cleanup_by_hand(api: Harness) -> None:
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    await api.post("/v1/sessions", {"id": "quiet", "user_id": "u", "kind": "app"})
    api.advance(60)
    await log_in(api)
    token = csrf_of((await api.client.get("/admin/actions/sweep")).text)
    assert (await api.client.post("/admin/actions/sweep", data={"csrf": token})).status_code == 303
    assert (await api.get("/v1/sessions/quiet")).json()["end_reason"] == "timeout"
    confirm = await api.client.get("/admin/actions/cleanup")
    assert "inactive room of this tenant" in confirm.text  # what a tenant's cleanup covers
    assert (
        await api.client.post("/admin/actions/cleanup", data={"csrf": token})
    ).status_code == 303
    actions = [e["action"] for e in (await api.get("/v1/audit")).json()["items"]]
    assert actions == ["cleanup.run", "sweep.run"]
    assert "Last sweep" in (await api.client.get("/admin/fragments/counters")).text


async def test_sessions_page_filters_and_pages_with_the_state_in_the_url(api_any: Harness) -> None:
    api = api_any
    for n in range(5):
        kind = "game" if n % 2 else "voice"
        await api.post("/v1/sessions", {"id": f"s{n}", "user_id": f"u{n}", "kind": kind})
        api.advance(1)
    await log_in(api)
    page = await api.client.get("/admin/sessions", params={"kind": "game", "limit": "1"})
    assert page.status_code == 200
    # Link targets, not bare ids: a random CSRF token in the page can hold "s1".
    assert '/admin/sessions/s3"' in page.text and '/admin/sessions/s1"' not in page.text
    next_url = re.search(r'href="(/admin/sessions\?[^"]*cursor=[^"]+)"', page.text)
    assert next_url is not None
    second = await api.client.get(next_url.group(1).replace("&amp;", "&"))
    assert '/admin/sessions/s1"' in second.text and '/admin/sessions/s3"' not in second.text
    oldest = await api.client.get("/admin/sessions", params={"order": "oldest", "limit": "1"})
    assert "/admin/sessions/s0" in oldest.text and "/admin/sessions/s4" not in oldest.text
    assert 'aria-sort="ascending"' in oldest.text and "order=newest" in oldest.text
    bad = await api.client.get("/admin/sessions", params={"status": "nope", "kind": "game"})
    assert bad.status_code == 422 and "status must be one of" in bad.text
    assert 'name="kind" value="game"' in bad.text  # the form keeps what was sent
    for limit in ("²", "①", "0", "501"):  # digits to str.isdigit() that int() refuses, too
        refused = await api.client.get("/admin/sessions", params={"limit": limit})
        assert refused.status_code == 422 and "limit must be 1 to 500" in refused.text
    # Search: an id opens the session, anything else is a user.
    found = await api.client.get("/admin/sessions", params={"q": "s2"})
    assert found.headers["location"] == "/admin/sessions/s2"
    user = await api.client.get("/admin/sessions", params={"q": "u4"})
    assert user.headers["location"] == "/admin/sessions?user_id=u4"


async def test_export_is_the_api_export_of_the_same_filters(api_any: Harness) -> None:
    api = api_any
    for n in range(4):
        await api.post(
            "/v1/sessions",
            {"id": f"s{n}", "user_id": "u", "kind": "game", "subject": {"teacher_id": f"t{n % 2}"}},
        )
    outcome = {"metrics": {"score": 7}, "tags": {"topics": ["chess"]}}
    assert (await api.put("/v1/sessions/s1/outcome", outcome)).status_code == 200
    await log_in(api)
    ours = await api.client.get(
        "/admin/sessions/export.csv", params={"subject": "teacher_id=t1", "kind": "game"}
    )
    theirs = await api.get(
        "/v1/sessions/export.csv", **{"subject.teacher_id": "t1", "kind": "game"}
    )
    assert ours.status_code == 200 and ours.headers["content-type"].startswith("text/csv")
    assert ours.text == theirs.text and ours.text.count("\n") == 3
    # The outcome column is the API's too: last, the session's outcome as compact JSON.
    assert ours.text.splitlines()[0].endswith(",attributes,outcome")
    assert '"{""metrics"":{""score"":7.0}' in ours.text.splitlines()[1]


async def test_session_page_shows_the_timeline_and_the_estimated_end(api: Harness) -> None:
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 10, "timeout_s": 30, "grace_s": 5})
    await api.post("/v1/sessions", {"id": "gone", "user_id": "u", "kind": "app"})
    api.advance(8)
    await api.post("/v1/sessions/gone/heartbeat")
    api.advance(60)
    await log_in(api)
    page = await api.client.get("/admin/sessions/gone")
    assert page.status_code == 200
    for text in ("estimated end", "last heartbeat", "grace of 5 s", "Duration bounds"):
        assert text in page.text
    missing = await api.client.get("/admin/sessions/nope")
    assert missing.status_code == 404


async def test_rooms_page_and_a_room_with_its_participants(api: Harness) -> None:
    room = await api.post("/v1/rooms", {"id": "r1", "kind": "lesson", "created_by": "t"})
    assert room.status_code == 201, room.text
    joined = await api.post("/v1/rooms/r1/participants", {"user_id": "alice"})
    assert joined.status_code == 201, joined.text
    await log_in(api)
    rooms = await api.client.get("/admin/rooms")
    assert rooms.status_code == 200 and "/admin/sessions/r1" in rooms.text
    detail = await api.client.get("/admin/sessions/r1")
    assert "Participants" in detail.text and "alice" in detail.text
    # A room closes after its inactivity, not after a session timeout.
    assert "goes inactive unless someone is present" in detail.text
    assert "times out unless a heartbeat comes" not in detail.text


async def test_charts_and_tenant_isolation(api: Harness) -> None:
    await api.post("/v1/sessions", {"id": "mine", "user_id": "u", "kind": "app"})
    api.services.tenants.create_tenant("other")
    await log_in(api, api.new_key("other", "admin"))
    listing = await api.client.get("/admin/sessions")
    assert "/admin/sessions/mine" not in listing.text and ">mine<" not in listing.text
    assert (await api.client.get("/admin/sessions/mine")).status_code == 404
    charts = (await api.client.get("/admin/charts.json")).json()
    assert len(charts["days"]) == 30 and len(charts["hours"]) == 24
    assert charts["active_by_kind"] == {}


async def test_operator_key_switches_tenant(sqlite_url: str) -> None:
    from tests.support import running_app

    operator_key = "op_" + "x" * 40
    async with running_app(sqlite_url, operator_key=operator_key) as api:
        api.services.tenants.create_tenant("other")
        await api.client.post(
            "/v1/sessions",
            json={"id": "in-other", "user_id": "u", "kind": "app"},
            headers={"Authorization": f"Bearer {operator_key}", "Sessionkeeper-Tenant": "other"},
        )
        assert (await log_in(api, operator_key)).status_code == 303
        overview = await api.client.get("/admin")
        assert 'id="tenant-switch"' in overview.text
        token = csrf_of(overview.text)
        switched = await api.client.post("/admin/tenant", data={"csrf": token, "tenant": "other"})
        assert switched.status_code == 303
        assert "in-other" in (await api.client.get("/admin/sessions")).text
        unknown = await api.client.post("/admin/tenant", data={"csrf": token, "tenant": "nope"})
        assert unknown.status_code == 404


async def test_logout_ends_the_login(api: Harness) -> None:
    await log_in(api)
    token = csrf_of((await api.client.get("/admin")).text)
    assert (await api.client.post("/admin/logout", data={"csrf": token})).status_code == 303
    assert (await api.client.get("/admin")).status_code == 303


async def test_static_assets_are_served_from_the_package(api: Harness) -> None:
    for name in ("htmx.min.js", "chart.umd.min.js", "dashboard.js", "dashboard.css"):
        answer = await api.client.get(f"/admin/static/{name}")
        assert answer.status_code == 200 and len(answer.content) > 100
    assert (await api.client.get("/admin/static/..%2Fservice.py")).status_code == 404
    assert (await api.client.get("/admin/static/VENDORED.md")).status_code == 404


async def test_links_and_cookies_carry_the_root_path_behind_a_proxy(api: Harness) -> None:
    # Served under /sk (SESSIONKEEPER_ROOT_PATH): the browser's paths all start with it.
    api.app.root_path = "/sk"
    answer = await api.client.get("/sk/admin/sessions")
    assert answer.headers["location"].startswith("/sk/admin/login?next=%2Fsk%2Fadmin%2Fsessions")
    form = await api.client.get("/sk/admin/login")
    assert 'action="/sk/admin/login"' in form.text and "/sk/admin/static/" in form.text
    done = await api.client.post(
        "/sk/admin/login",
        data={"csrf": csrf_of(form.text), "key": api.keys["admin"], "next": "https://evil.test/"},
    )
    assert done.headers["location"] == "/sk/admin"  # never another site
    assert "Path=/sk/admin" in done.headers["set-cookie"]
    assert (await api.client.get("/sk/admin/sessions")).status_code == 200


async def test_revoke_a_room_invitation_by_hand(api: Harness) -> None:
    await api.post("/v1/rooms", {"id": "r1", "kind": "lesson", "created_by": "t"})
    invite = (await api.post("/v1/rooms/r1/invites", {"max_uses": 5})).json()
    await log_in(api)
    room = await api.client.get("/admin/sessions/r1")
    assert invite["id"] in room.text and "Revoke…" in room.text
    link = f"/admin/invites/{invite['id']}/revoke?room=r1"
    confirm = await api.client.get(link)
    assert "Revoke the invitation" in confirm.text
    assert (await api.client.post(link, data={})).status_code == 403  # no CSRF token
    assert (await api.get(f"/v1/invites/{invite['token']}")).json()["valid"] is True
    done = await api.client.post(link, data={"csrf": csrf_of(confirm.text)})
    assert done.headers["location"] == "/admin/sessions/r1?notice=revoked"
    status = (await api.get(f"/v1/invites/{invite['token']}")).json()
    assert (status["valid"], status["reason"]) == (False, "invite_revoked")
    entry = (await api.get("/v1/audit")).json()["items"][0]
    assert (entry["action"], entry["target"], entry["details"]) == (
        "invite.revoke",
        invite["id"],
        {"room_id": "r1"},
    )
    assert "revoked" in (await api.client.get("/admin/sessions/r1")).text
    unknown = await api.client.post(
        "/admin/invites/nope/revoke?room=r1", data={"csrf": csrf_of(confirm.text)}
    )
    assert unknown.status_code == 404


async def test_a_login_expires(api: Harness) -> None:
    await log_in(api)
    api.advance(api.runtime.settings.dashboard_login_ttl_s - 60)
    assert (await api.client.get("/admin")).status_code == 200
    api.advance(120)
    assert (await api.client.get("/admin")).status_code == 303


async def test_the_export_refuses_a_filter_the_api_refuses(api: Harness) -> None:
    await log_in(api)
    bad = await api.client.get("/admin/sessions/export.csv", params={"min_duration_s": "-1"})
    assert bad.status_code == 422 and bad.json()["field"] == "min_duration_s"
    unknown = await api.client.get("/admin/sessions/export.csv", params={"colour": "red"})
    assert unknown.status_code == 422 and unknown.json()["field"] == "colour"


async def test_the_quality_page_shows_the_report_of_the_api(api: Harness) -> None:
    # Two lessons end by themselves, one loses its end (timeout); a page lesson is exact.
    for sid, kind in (("a", "lesson"), ("b", "lesson"), ("c", "lesson"), ("p", "page")):
        await api.post("/v1/sessions", {"id": sid, "user_id": sid, "kind": kind})
    api.advance(60)
    for sid in ("a", "b", "p"):
        await api.post(f"/v1/sessions/{sid}/end", {})
    api.advance(600)
    await api.post("/v1/maintenance/sweep")
    await log_in(api)
    html = (await api.client.get("/admin/quality?days=7&group_by=kind")).text
    report = (await api.get("/v1/metrics/quality", days=7, group_by="kind")).json()
    lesson = next(g for g in report["groups"] if g["key"] == "lesson")
    assert lesson["sessions"] == 3 and abs(lesson["lost_end_share"] - 1 / 3) < 1e-9
    row = re.search(r'<th scope="row">lesson</th>(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    assert cells[0] == "3"  # sessions
    assert cells[4] == "33.3%"  # one in three lost its end
    assert "Losing their end most often" in html and "<strong>lesson</strong>" in html
    refused = await api.client.get("/admin/quality?days=0")
    assert refused.status_code == 422


async def test_charts_count_what_the_stats_api_counts(api_any: Harness) -> None:
    """The overview's charts read from the rollups and the indexes what the stats answer
    filter by filter: the sessions that ended on the chart's days per duration bucket (as of
    the last refresh), and the sessions going in each of the last hours (now)."""
    api = api_any
    script = [("a", "game", 30), ("b", "game", 400), ("c", "voice", 2000), ("d", "voice", None)]
    for sid, kind, _ in script:
        await api.post("/v1/sessions", {"id": sid, "user_id": sid, "kind": kind})
        api.advance(1800)
    for n, (sid, _, seconds) in enumerate(script):
        if seconds is not None:  # "d" never ends: it times out, and counts at its estimate
            at = iso(T0 + n * 1_800_000 + seconds * 1000)
            assert (await api.post(f"/v1/sessions/{sid}/end", {"at": at})).status_code == 200
    api.advance(600)
    # The duration chart is the rollups' as of their last refresh (the job's, every minute).
    await api.services.sweeper.run()
    await api.services.of(Rollups).refresher.refresh()
    await log_in(api)
    charts = (await api.client.get("/admin/charts.json")).json()
    buckets = [0, 60, 300, 900, 1800, 3600, 4 * 3600]
    expected = []
    for low, high in zip(buckets, [*buckets[1:], None], strict=True):
        first_day = charts["days"][0] + "T00:00:00Z"
        params = {"min_duration_s": low, "ended_after": first_day}
        at_least = (await api.get("/v1/sessions/stats", **params)).json()["total"]
        more = 0
        if high is not None:
            params["min_duration_s"] = high
            more = (await api.get("/v1/sessions/stats", **params)).json()["total"]
        expected.append(at_least - more)
    assert charts["duration_counts"] == expected and sum(expected) == 4
    for index, hour in enumerate(charts["hours"]):
        window = f"{iso(hour)}/{iso(hour + 3_600_000)}"
        stats = (await api.get("/v1/sessions/stats", active_during=window, group_by="kind")).json()
        going = {g["key"]: g["total"] for g in stats["groups"]}
        drawn = {kind: series[index] for kind, series in charts["active_by_kind"].items()}
        assert {k: v for k, v in drawn.items() if v} == {k: v for k, v in going.items() if v}


async def test_withdraw_a_link_by_hand(api: Harness) -> None:
    body = {"target_url": "https://zoom.us/j/1", "kind": "lesson", "mode": "redirect"}
    link = (await api.post("/v1/links", body, scope="ingest")).json()
    await log_in(api)
    listed = await api.client.get("/admin/links")
    assert listed.status_code == 200 and link["id"] in listed.text and "Withdraw…" in listed.text
    path = f"/admin/links/{link['id']}/withdraw"
    confirm = await api.client.get(path)
    assert "Withdraw the link" in confirm.text
    assert (await api.client.post(path, data={})).status_code == 403  # no CSRF token
    assert (await api.get(f"/v1/links/{link['id']}")).json()["deleted_at"] is None
    done = await api.client.post(path, data={"csrf": csrf_of(confirm.text)})
    assert done.headers["location"] == "/admin/links?notice=withdrawn"
    assert (await api.get(f"/v1/links/{link['id']}")).json()["deleted_at"] is not None
    token = link["url"].rsplit("/", 1)[1]
    assert (await api.client.get(f"/t/{token}")).status_code == 410
    after = await api.client.get("/admin/links?notice=withdrawn")
    assert "was withdrawn" in after.text and "Withdraw…" not in after.text
    entry = (await api.get("/v1/audit")).json()["items"][0]
    assert (entry["action"], entry["target"]) == ("link.withdraw", link["id"])
    # An unknown link, or one of another tenant, is not found.
    assert (await api.client.get("/admin/links/nosuchlink/withdraw")).status_code == 200
    missing = await api.client.post(
        "/admin/links/nosuchlink/withdraw", data={"csrf": csrf_of(confirm.text)}
    )
    assert missing.status_code == 404


async def test_logging_out_ends_every_copy_of_the_login(api_any: Harness) -> None:
    api = api_any
    await log_in(api)
    copied = api.client.cookies.get(COOKIE, path="/admin")  # taken from the browser, say
    assert copied is not None
    page = await api.client.get("/admin")
    logged_out = await api.client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    assert logged_out.status_code == 303 and COOKIE not in api.client.cookies
    api.client.cookies.set(COOKIE, copied, path="/admin")
    answer = await api.client.get("/admin/audit")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    # Another login of the same key goes on working.
    api.client.cookies.clear()
    await log_in(api)
    assert (await api.client.get("/admin/audit")).status_code == 200
