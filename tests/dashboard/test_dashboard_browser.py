"""The dashboard in a real browser: login, live counters, filters and CSV, an end by hand in
the audit log, CSRF, keyboard-only use, a phone's width, and a screenshot of every page."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.dashboard.conftest import Dashboard

pytestmark = pytest.mark.slow

# Long enough for a busy machine; the page polls every second.
WAIT_MS = 15_000

# Every visible text's contrast with the background it is drawn on (WCAG 2 relative
# luminance); returns the texts below AA: 4.5:1, or 3:1 for large text.
LOW_CONTRAST_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length === 3 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || !el.checkVisibility()) continue;
    const style = getComputedStyle(el);
    const fg = rgb(style.color).slice(0, 3);
    const [a, b] = [lum(fg), lum(background(el))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) low.push(`${node.textContent.trim()}: ${ratio.toFixed(2)}`);
  }
  return low;
}
"""


async def start(dash: Dashboard, sid: str, user: str, kind: str, **extra: object) -> None:
    async with dash.api() as api:
        answer = await api.post(
            "/v1/sessions", json={"id": sid, "user_id": user, "kind": kind, **extra}
        )
        assert answer.status_code == 201, answer.text


async def test_login_then_a_session_started_on_another_process_appears_live(
    dashboard: Dashboard,
) -> None:
    page = await dashboard.new_page()
    await page.goto(f"{dashboard.url}/admin")
    await page.wait_for_url("**/admin/login?next=*")  # not logged in yet
    await dashboard.shot(page, "login")
    await dashboard.log_in(page)
    await expect(page.locator("h1")).to_contain_text("Overview of default")
    await expect(page.locator("#count-active")).to_have_text("0")
    # The charts drew (Chart.js sets a size on each canvas it draws into).
    await page.wait_for_function(
        "() => ['chart-daily', 'chart-durations', 'chart-hourly']"
        ".every(id => window.Chart && window.Chart.getChart(id))"
    )
    # No reload: a value put on the window survives only as long as the document.
    await page.evaluate("() => { window.sameDocument = true; }")
    await start(dashboard, "live-1", "alice", "game")  # through the other server process
    await expect(page.locator("#count-active")).to_have_text("1", timeout=WAIT_MS)
    await expect(page.locator("#count-started")).to_have_text("1")
    await expect(page.locator("#count-users")).to_have_text("1")
    assert await page.evaluate("() => window.sameDocument === true")
    # The shared secret: the login is good on the other process too.
    other = await dashboard.new_page()
    await other.goto(f"{dashboard.other.base_url}/admin/sessions")
    await expect(other.locator("h1")).to_have_text("Sessions")
    assert dashboard.problems == []


async def test_filter_export_csv_and_compare_with_the_api_export(
    dashboard: Dashboard, tmp_path: Path
) -> None:
    for n in range(6):
        kind = "game" if n % 2 else "voice"
        await start(dashboard, f"s{n}", f"user-{n % 3}", kind, subject={"teacher_id": f"t{n % 2}"})
    page = await dashboard.new_page()
    await dashboard.log_in(page)
    await page.goto(f"{dashboard.url}/admin/sessions")
    await page.select_option("#f-status", "active")
    await page.fill("#f-kind", "game")
    await page.fill("#f-subject", "teacher_id=t1")
    await page.click("text=Apply filters")
    await page.wait_for_url("**/admin/sessions?*kind=game*")
    assert "subject=teacher_id%3Dt1" in page.url  # the URL holds the filters: shareable
    rows = page.locator("#sessions-table tbody tr")
    await expect(rows).to_have_count(3)
    await dashboard.shot(page, "sessions")
    # The same URL in a fresh page shows the same view.
    shared = await dashboard.new_page()
    await shared.goto(page.url)
    await expect(shared.locator("#sessions-table tbody tr")).to_have_count(3)
    async with page.expect_download() as download_info:
        await page.click("#export-csv")
    download = await download_info.value
    saved = tmp_path / "view.csv"
    await download.save_as(saved)
    async with dashboard.api(dashboard.server) as api:
        theirs = await api.get(
            "/v1/sessions/export.csv",
            params={"status": "active", "kind": "game", "subject.teacher_id": "t1"},
        )
    ours = list(csv.reader(io.StringIO(saved.read_text())))
    expected = list(csv.reader(io.StringIO(theirs.text)))
    assert len(ours) == 4 and ours == expected
    assert dashboard.problems == []


async def test_end_a_session_by_hand_and_find_it_in_the_audit_log(dashboard: Dashboard) -> None:
    await start(dashboard, "lesson-7", "bob", "lesson", label="French A2")
    page = await dashboard.new_page()
    await dashboard.log_in(page)
    await page.goto(f"{dashboard.url}/admin/sessions")
    await page.click("text=lesson-7")
    await expect(page.locator("#session-status")).to_have_text("active")
    await dashboard.shot(page, "session")
    await page.click("#end-session")
    await expect(page.locator("h1")).to_contain_text("End session lesson-7")
    await dashboard.shot(page, "confirm")
    await page.click("#confirm")
    await expect(page.locator("#session-status")).to_have_text("ended")
    await expect(page.locator("#end-reason")).to_have_text("admin")
    await expect(page.locator(".notice")).to_contain_text("ended")
    await page.click("nav >> text=Audit log")
    first = page.locator("#audit-table tbody tr").first
    await expect(first).to_contain_text("session.end")
    await expect(first).to_contain_text("lesson-7")
    await expect(first).to_contain_text("dashboard_login:")
    await dashboard.shot(page, "audit")
    async with dashboard.api() as api:
        session = (await api.get("/v1/sessions/lesson-7")).json()
    assert (session["status"], session["end_reason"]) == ("ended", "admin")
    assert dashboard.problems == []


async def test_an_action_without_the_csrf_token_is_refused(dashboard: Dashboard) -> None:
    await start(dashboard, "keep-me", "carol", "game")
    page = await dashboard.new_page()
    await dashboard.log_in(page)
    # The browser sends its login cookie, but not the form's token.
    refused = await page.request.post(f"{dashboard.url}/admin/sessions/keep-me/end", form={})
    assert refused.status == 403
    forged = await page.request.post(
        f"{dashboard.url}/admin/actions/sweep", form={"csrf": "not-the-token"}
    )
    assert forged.status == 403
    async with dashboard.api() as api:
        assert (await api.get("/v1/sessions/keep-me")).json()["status"] == "active"
        assert (await api.get("/v1/audit")).json()["items"] == []
    # Logging out (a form with the token) ends the login.
    await page.goto(f"{dashboard.url}/admin")
    await page.click("text=Log out")
    await page.wait_for_url("**/admin/login")
    await page.goto(f"{dashboard.url}/admin/audit")
    await page.wait_for_url("**/admin/login?next=*")
    assert dashboard.problems == []


async def focused(page: Page) -> str:
    return str(await page.evaluate("() => document.activeElement.textContent.trim()"))


async def test_keyboard_only_through_the_sessions_table(dashboard: Dashboard) -> None:
    for n in range(3):
        await start(dashboard, f"kb-{n}", "dora", "game")
    page = await dashboard.new_page()
    await dashboard.log_in(page)
    await page.goto(f"{dashboard.url}/admin/sessions")
    # The first Tab reaches the skip link; it jumps to the content.
    await page.keyboard.press("Tab")
    assert await focused(page) == "Skip to content"
    await page.keyboard.press("Enter")
    reached = []
    for _ in range(80):
        await page.keyboard.press("Tab")
        text = await focused(page)
        reached.append(text)
        if text.startswith("kb-"):
            break
    assert reached[-1] == "kb-2", reached  # newest first
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # focus is visible
    await page.keyboard.press("Tab")
    assert await focused(page) == "kb-1"
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/admin/sessions/kb-1")
    await expect(page.locator("h1")).to_contain_text("kb-1")
    assert dashboard.problems == []


async def test_a_phone_width_layout_and_every_page(dashboard: Dashboard) -> None:
    await start(dashboard, "phone-1", "erin", "voice", label="General")
    for n, kind in enumerate(["game", "game", "lesson", "voice", "lesson"]):
        await start(dashboard, f"day-{n}", f"user-{n % 3}", kind)
    async with dashboard.api() as api:
        for n in (0, 2):
            assert (await api.post(f"/v1/sessions/day-{n}/end")).status_code == 200
        # The daily rollups now rather than at the job's next minute, for the charts.
        assert (await api.post("/v1/maintenance/rollup")).status_code == 200
        room = await api.post(
            "/v1/rooms", json={"id": "room-1", "kind": "reading", "created_by": "erin"}
        )
        assert room.status_code == 201, room.text
        joined = await api.post("/v1/rooms/room-1/participants", json={"user_id": "erin"})
        assert joined.status_code == 201, joined.text
        invite = await api.post("/v1/rooms/room-1/invites", json={"max_uses": 5})
        assert invite.status_code == 201, invite.text
        link = await api.post(
            "/v1/links",
            json={
                "target_url": "https://zoom.us/j/123456789",
                "kind": "lesson",
                "mode": "companion",
                "user_id": "s9",
            },
        )
        assert link.status_code == 201, link.text
    desktop = await dashboard.new_page()
    await dashboard.log_in(desktop)
    await expect(desktop.locator("#count-active")).to_have_text("6")
    await desktop.wait_for_function(
        "() => ['chart-daily', 'chart-durations', 'chart-hourly']"
        ".every(id => window.Chart && window.Chart.getChart(id))"
    )
    await dashboard.shot(desktop, "overview")
    assert await desktop.evaluate(LOW_CONTRAST_JS) == []
    # Each chart's numbers are also a table (for screen readers), behind a "Data" toggle.
    await desktop.locator("#charts details summary").nth(2).click()
    hourly = desktop.locator("#charts details table").nth(2)
    await expect(hourly.locator("thead th")).to_have_text(
        ["hour (UTC)", "game", "lesson", "reading", "voice"]
    )
    await expect(hourly.locator("tbody tr")).to_have_count(24)
    assert await desktop.evaluate(LOW_CONTRAST_JS) == []
    await desktop.goto(f"{dashboard.url}/admin/rooms")
    await expect(desktop.locator("text=room-1")).to_be_visible()
    await dashboard.shot(desktop, "rooms")
    await desktop.goto(f"{dashboard.url}/admin/sessions/room-1")
    await expect(desktop.locator("#participants-title")).to_be_visible()
    await expect(desktop.locator("#invites-table")).to_contain_text(invite.json()["id"])
    await dashboard.shot(desktop, "room")
    await desktop.goto(f"{dashboard.url}/admin/links")
    await expect(desktop.locator("text=" + link.json()["id"])).to_be_visible()
    assert await desktop.evaluate(LOW_CONTRAST_JS) == []
    await dashboard.shot(desktop, "links")
    await desktop.goto(f"{dashboard.url}/admin/quality")
    await expect(desktop.locator("#quality-table")).to_contain_text("game")
    assert await desktop.evaluate(LOW_CONTRAST_JS) == []
    await dashboard.shot(desktop, "quality")
    phone = await dashboard.new_page(viewport={"width": 390, "height": 844}, is_mobile=True)
    await dashboard.log_in(phone)
    for path, name in (
        ("/admin", "phone-overview"),
        ("/admin/sessions", "phone-sessions"),
        ("/admin/sessions/phone-1", "phone-session"),
        ("/admin/quality", "phone-quality"),
        ("/admin/links", "phone-links"),
    ):
        await phone.goto(f"{dashboard.url}{path}")
        await expect(phone.locator("h1")).to_be_visible()
        # Nothing wider than the screen: the page never scrolls sideways (wide tables
        # scroll inside their own region).
        width = await phone.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        assert await phone.evaluate(LOW_CONTRAST_JS) == [], path
        await dashboard.shot(phone, name)
    assert dashboard.problems == []
