"""The sessions table in every order, page by page, and the indexes those orders read; the
overview's users per day, a user of several kinds counted once."""

from __future__ import annotations

import re

from sessionkeeper.domain.listing import SessionFilter, SessionOrder
from sessionkeeper.domain.principal import operator
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.storage.session_queries import list_statement
from tests.api.test_dashboard import log_in
from tests.support import T0, Harness, iso

# id, kind, seconds it lasts (None: still going), ended this many seconds after T0
SCRIPT = [
    ("a", "game", 300, 400),
    ("b", "game", 60, 700),
    ("c", "voice", 900, 1000),
    ("d", "game", 20, 800),
    ("e", "game", None, None),
]


async def _sessions(api: Harness) -> None:
    await api.put("/v1/policies/*", {"heartbeat_interval_s": 60, "timeout_s": 7200})
    api.advance(2000)  # every start and end below is in the past, reported late
    for sid, kind, seconds, ended in SCRIPT:
        started = T0 + ((ended or 1500) - (seconds or 0)) * 1000
        body = {"id": sid, "user_id": f"u-{sid}", "kind": kind, "started_at": iso(started)}
        assert (await api.post("/v1/sessions", body)).status_code == 201
    for sid, _, _, ended in SCRIPT:
        if ended is not None:
            answer = await api.post(f"/v1/sessions/{sid}/end", {"at": iso(T0 + ended * 1000)})
            assert answer.status_code == 200, answer.text


async def _walk(api: Harness, **params: str) -> list[str]:
    """Every session id the table lists, following its next-page links one row at a time."""
    ids: list[str] = []
    url: str | None = "/admin/sessions"
    query: dict[str, str] | None = {**params, "limit": "1"}
    while url is not None:
        page = await api.client.get(url, params=query)
        assert page.status_code == 200, page.text
        ids += re.findall(r'<td><a href="/admin/sessions/([^"]+)">', page.text)
        found = re.search(r'href="(/admin/sessions\?[^"]*cursor=[^"]+)"', page.text)
        url, query = (found.group(1).replace("&amp;", "&"), None) if found else (None, None)
    return ids


async def test_the_table_orders_by_start_end_and_duration_page_by_page(api_any: Harness) -> None:
    api = api_any
    await _sessions(api)
    await log_in(api)
    # "a" and "c" started at the same moment: the id breaks the tie, across pages too.
    assert await _walk(api) == ["e", "d", "b", "c", "a"]
    assert await _walk(api, order="oldest") == ["a", "c", "b", "d", "e"]
    # By end and by duration: the closed sessions only ("e" is still going).
    assert await _walk(api, order="ended_latest") == ["c", "d", "b", "a"]
    assert await _walk(api, order="ended_earliest") == ["a", "b", "d", "c"]
    assert await _walk(api, order="longest") == ["c", "a", "b", "d"]
    assert await _walk(api, order="shortest", kind="game") == ["d", "b", "a"]
    page = await api.client.get("/admin/sessions", params={"order": "longest"})
    # The heading of the ordered column says so, and its link reverses the order; the
    # other headings order by their column; the export asks for the closed sessions shown.
    assert re.search(r'aria-sort="descending"><a href="[^"]*order=shortest"', page.text)
    assert re.search(r'<a href="[^"]*order=ended_latest" id="sort-ended"', page.text)
    export = re.search(r'href="(/admin/sessions/export\.csv\?[^"]*)"', page.text)
    assert export is not None and "ended_after=" in export.group(1)
    csv = await api.client.get(export.group(1).replace("&amp;", "&"))
    assert sorted(line.split(",")[0] for line in csv.text.splitlines()[1:]) == [
        "a",
        "b",
        "c",
        "d",
    ]
    refused = await api.client.get("/admin/sessions", params={"order": "last_seen"})
    assert refused.status_code == 422 and "order must be one of" in refused.text


def _plan(api: Harness, order: SessionOrder) -> str:
    """How the database reads one page of the listing in ``order``."""
    stmt = list_statement(
        operator(1, "t"), SessionFilter(), limit=50, after=None, now=T0, order=order
    )
    with api.runtime.db.read_engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        if conn.dialect.name == "postgresql":
            # Whether the index can serve the order, whatever a table this small would cost.
            conn.exec_driver_sql("SET enable_seqscan = off")
            plan = conn.exec_driver_sql("EXPLAIN " + sql).all()
        else:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    return "\n".join(str(row) for row in plan)


async def test_each_order_reads_an_index_of_its_column(api_any: Harness) -> None:
    api = api_any
    await _sessions(api)
    assert "ix_sessions_tenant_started" in _plan(api, SessionOrder.NEWEST)
    assert "ix_sessions_tenant_ended" in _plan(api, SessionOrder.ENDED_LATEST)
    assert "ix_sessions_tenant_duration" in _plan(api, SessionOrder.LONGEST)
    assert "ix_sessions_tenant_duration" in _plan(api, SessionOrder.SHORTEST)


async def test_active_users_per_day_count_a_user_of_two_kinds_once(api: Harness) -> None:
    for sid, kind, user in [("a", "game", "u1"), ("b", "voice", "u1"), ("c", "voice", "u2")]:
        await api.post("/v1/sessions", {"id": sid, "user_id": user, "kind": kind})
    api.advance(60)
    await api.services.of(Rollups).refresher.refresh()
    await log_in(api)
    charts = (await api.client.get("/admin/charts.json")).json()
    assert charts["users_per_day"][-1] == 2  # u1 in two kinds, u2: the rows per kind say 3
    assert charts["sessions_per_day"][-1] == 3
