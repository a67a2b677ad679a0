"""Tracking links over HTTP: create, click (redirect and companion), reloads, 410s, reads."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from sessionkeeper.domain.secrets import digest
from sessionkeeper.links.tables import links as links_table
from tests.support import Harness, iso

LESSON = {
    "target_url": "https://zoom.us/j/123456789",
    "kind": "lesson",
    "mode": "companion",
    "user_id": "s9",
    "subject": {"teacher_id": "t1", "student_id": "s9"},
    "attributes": {"course": "fr-b1"},
}
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


async def make(api: Harness, **changes: Any) -> dict[str, Any]:
    response = await api.post("/v1/links", {**LESSON, **changes}, scope="ingest")
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def path_of(link: dict[str, Any]) -> str:
    return "/t/" + str(link["token"])


async def test_create_answers_the_url_and_stores_only_the_digest(api: Harness) -> None:
    link = await make(api)
    assert link["url"] == f"http://sk.test/t/{link['token']}"
    assert link["id"].startswith("lnk_") and link["clicks"] == 0
    # At least 128 random bits: token_urlsafe(24) is 32 characters after the prefix.
    assert link["token"].startswith("lt_") and len(link["token"]) >= 3 + 22
    with api.runtime.db.read_engine.connect() as conn:
        stored = conn.execute(links_table.select()).mappings().one()
    assert stored["token_hash"] == digest(link["token"])
    assert link["token"] not in str(dict(stored))
    again = await api.get(f"/v1/links/{link['id']}")
    assert "token" not in again.json() and "url" not in again.json()


async def test_public_url_setting_makes_the_url(sqlite_url: str) -> None:
    from tests.support import running_app

    async with running_app(sqlite_url, public_url="https://sk.example.com/base") as api:
        link = await make(api)
        assert link["url"] == f"https://sk.example.com/base/t/{link['token']}"


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "data:text/html,hi",
        "ftp://example.com/x",
        "https://",
        "no-scheme",
        "https://a.example/<script>",
    ],
)
async def test_unsafe_targets_are_refused(api: Harness, target: str) -> None:
    response = await api.post("/v1/links", {**LESSON, "target_url": target}, scope="ingest")
    assert response.status_code == 422
    assert response.json()["field"] == "target_url"


@pytest.mark.parametrize(
    "target", ["zoommtg://zoom.us/join?confno=123", "msteams:/l/meetup-join/x"]
)
async def test_allowed_app_schemes_are_accepted(api: Harness, target: str) -> None:
    link = await make(api, target_url=target, mode="redirect")
    click = await api.client.get(path_of(link))
    assert click.status_code == 302 and click.headers["location"] == target


async def test_schemes_are_configurable(sqlite_url: str) -> None:
    from tests.support import running_app

    async with running_app(sqlite_url, link_schemes=["webex"]) as api:
        assert (await make(api, target_url="webex://meet/x"))["target_url"] == "webex://meet/x"
        refused = await api.post(
            "/v1/links", {**LESSON, "target_url": "zoommtg://zoom.us/j/1"}, scope="ingest"
        )
        assert refused.status_code == 422


async def test_redirect_click_starts_a_session_and_redirects(api_any: Harness) -> None:
    api = api_any
    link = await make(api, mode="redirect")
    click = await api.client.get(path_of(link), headers={"User-Agent": CHROME})
    assert click.status_code == 302
    assert click.headers["location"] == LESSON["target_url"]
    assert click.headers["referrer-policy"] == "no-referrer"
    detail = (await api.get(f"/v1/links/{link['id']}", scope="read")).json()
    assert detail["clicks"] == 1
    [recent] = detail["recent_clicks"]
    assert recent["user_agent"] == "Chrome"
    session = (await api.get(f"/v1/sessions/{recent['session_id']}")).json()
    assert session["status"] == "active"
    assert session["source"] == "link"
    assert session["kind"] == "lesson" and session["user_id"] == "s9"
    assert session["subject"] == {"teacher_id": "t1", "student_id": "s9"}
    assert session["attributes"]["user_agent"] == "Chrome"
    assert session["attributes"]["course"] == "fr-b1"
    assert session["attributes"]["link_id"] == link["id"]
    # Never the full user agent, never an address.
    assert CHROME not in click.text + str(session)
    assert "127.0.0.1" not in str(session)


async def test_a_redirect_click_ends_by_timeout(api: Harness) -> None:
    link = await make(api, mode="redirect")
    await api.client.get(path_of(link))
    api.advance(301)
    await api.post("/v1/maintenance/sweep")
    listed = (await api.get("/v1/sessions", source="link")).json()["items"]
    assert [s["status"] for s in listed] == ["timed_out"]


async def test_companion_page_works_without_script_and_loads_nothing_elsewhere(
    api: Harness,
) -> None:
    link = await make(api)
    page = await api.client.get(path_of(link))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert f'href="{LESSON["target_url"]}"' in html
    assert 'src="/tracker.js"' in html and 'data-token="tt_' in html
    # Every reference other than the target is this server's.
    import re

    refs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert [r for r in refs if r.startswith(("http:", "https:", "//"))] == [LESSON["target_url"]]
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"


async def test_reload_and_second_tab_continue_the_same_session(api_any: Harness) -> None:
    api = api_any
    link = await make(api)
    first = await api.client.get(path_of(link))
    token = first.cookies.get("sk_click")
    assert token is not None
    api.advance(30)
    # The client keeps the cookie, as a browser would: a reload and a second tab send it.
    again = await api.client.get(path_of(link))
    third = await api.client.get(path_of(link))
    assert 'data-continued="1"' in again.text and 'data-continued="1"' in third.text
    detail = (await api.get(f"/v1/links/{link['id']}")).json()
    assert detail["clicks"] == 1
    assert len((await api.get("/v1/sessions", source="link")).json()["items"]) == 1
    # Once the session is over, a new load is a new click.
    api.advance(400)
    await api.client.get(path_of(link))
    assert (await api.get(f"/v1/links/{link['id']}")).json()["clicks"] == 2


async def test_another_browser_is_another_click(api: Harness) -> None:
    link = await make(api)
    await api.client.get(path_of(link))
    api.client.cookies.clear()
    await api.client.get(path_of(link))
    assert (await api.get(f"/v1/links/{link['id']}")).json()["clicks"] == 2


async def test_single_use_link_takes_one_click(api_any: Harness) -> None:
    api = api_any
    link = await make(api, reusable=False, mode="redirect")
    assert (await api.client.get(path_of(link))).status_code == 302
    api.client.cookies.clear()
    used = await api.client.get(path_of(link))
    assert used.status_code == 410 and "used already" in used.text


@pytest.mark.parametrize("mode", ["redirect", "companion"])
async def test_link_previews_start_nothing_and_use_up_nothing(api: Harness, mode: str) -> None:
    link = await make(api, reusable=False, mode=mode)
    for agent in (
        "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
        "TelegramBot (like TwitterBot)",
        "WhatsApp/2.23.20.0",
        "facebookexternalhit/1.1",
    ):
        preview = await api.client.get(path_of(link), headers={"User-Agent": agent})
        assert preview.status_code == (302 if mode == "redirect" else 200)
        assert "data-token" not in preview.text and "sk_click" not in preview.cookies
    assert (await api.get(f"/v1/links/{link['id']}")).json()["clicks"] == 0
    assert (await api.get("/v1/sessions", source="link")).json()["items"] == []
    # The person it was sent to still gets the one click.
    click = await api.client.get(path_of(link), headers={"User-Agent": CHROME})
    assert click.status_code == (302 if mode == "redirect" else 200)
    assert (await api.get(f"/v1/links/{link['id']}")).json()["clicks"] == 1


async def test_deleted_and_expired_links_answer_410(api: Harness) -> None:
    link = await make(api)
    assert (
        await api.client.delete(f"/v1/links/{link['id']}", headers=api.auth())
    ).status_code == 204
    gone = await api.client.get(path_of(link))
    assert gone.status_code == 410 and "withdrawn" in gone.text
    assert gone.headers["content-type"].startswith("text/html")
    # Deleting again changes nothing; listing hides it unless asked.
    assert (
        await api.client.delete(f"/v1/links/{link['id']}", headers=api.auth())
    ).status_code == 204
    assert (await api.get("/v1/links")).json()["items"] == []
    listed = (await api.get("/v1/links", include_deleted="true")).json()["items"]
    assert [x["id"] for x in listed] == [link["id"]] and listed[0]["deleted_at"] is not None

    expiring = await make(api, expires_at=iso(api.clock.now_ms() + 60_000))
    assert (await api.client.get(path_of(expiring))).status_code == 200
    api.client.cookies.clear()
    api.advance(61)
    expired = await api.client.get(path_of(expiring))
    assert expired.status_code == 410 and "expired" in expired.text


async def test_unknown_token_is_404(api: Harness) -> None:
    assert (await api.client.get("/t/lt_nothing")).status_code == 404
    assert (await api.client.get("/t/" + "x" * 500)).status_code == 404


async def test_list_filters_and_pages(api_any: Harness) -> None:
    api = api_any
    a = await make(api, subject={"teacher_id": "t1"})
    api.advance(1)
    b = await make(api, subject={"teacher_id": "t2"}, kind="call")
    api.advance(1)
    c = await make(api, subject={"teacher_id": "t1"}, user_id="s1")

    def ids(response: httpx.Response) -> list[str]:
        return [x["id"] for x in response.json()["items"]]

    assert ids(await api.get("/v1/links", **{"subject.teacher_id": "t1"})) == [c["id"], a["id"]]
    assert ids(await api.get("/v1/links", kind="call")) == [b["id"]]
    assert ids(await api.get("/v1/links", user_id="s1")) == [c["id"]]
    first = await api.get("/v1/links", limit=2)
    assert ids(first) == [c["id"], b["id"]]
    rest = await api.get("/v1/links", limit=2, cursor=first.json()["next_cursor"])
    assert ids(rest) == [a["id"]] and rest.json()["next_cursor"] is None
    assert (await api.get("/v1/links", bogus="1")).status_code == 422
    assert (await api.get("/v1/links", cursor="!!")).status_code == 422


async def test_tenants_never_see_each_others_links(api: Harness) -> None:
    link = await make(api)
    api.services.tenants.create_tenant("other")
    other = {"Authorization": f"Bearer {api.new_key('other', 'admin')}"}
    assert (await api.client.get(f"/v1/links/{link['id']}", headers=other)).status_code == 404
    assert (await api.client.get("/v1/links", headers=other)).json()["items"] == []
    assert (await api.client.delete(f"/v1/links/{link['id']}", headers=other)).status_code == 404
    assert (await api.client.get(path_of(link))).status_code == 200


async def test_scopes(api: Harness) -> None:
    assert (await api.post("/v1/links", LESSON, scope="read")).status_code == 403
    assert (await api.client.post("/v1/links", json=LESSON)).status_code == 401
    assert (await api.get("/v1/links", scope="ingest")).status_code == 200


@pytest.mark.parametrize(
    "change",
    [
        {"mode": "popup"},
        {"kind": "a b"},
        {"reusable": "yes"},
        {"subject": {"a-b": "x"}},
        {"expires_at": "2020-01-01T00:00:00Z"},
        {"expires_at": "9999-12-31T23:00:00-01:00"},  # the year 10000 in UTC
        {"extra": 1},
    ],
)
async def test_bad_bodies_are_422(api: Harness, change: dict[str, Any]) -> None:
    response = await api.post("/v1/links", {**LESSON, **change}, scope="ingest")
    assert response.status_code == 422, response.text
    # Nothing was stored that a listing could not spell back.
    listed = await api.get("/v1/links", scope="ingest")
    assert listed.status_code == 200 and listed.json()["items"] == []


async def test_the_last_millisecond_of_9999_is_a_date_the_link_shows(api: Harness) -> None:
    made = await make(api, expires_at="9999-12-31T23:59:59.999Z")
    assert made["expires_at"] == "9999-12-31T23:59:59.999000Z"
    listed = await api.get("/v1/links", scope="ingest")
    assert [link["expires_at"] for link in listed.json()["items"]] == [made["expires_at"]]
