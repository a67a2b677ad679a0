"""The client's analytics methods against the live server, sync and async."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sessionkeeper.client import (
    AsyncClient,
    Client,
    DailyMetrics,
    EventBatchResult,
    InvalidInput,
    LiveMetrics,
    Summary,
)


def test_events_round_trip(client: Client) -> None:
    session = client.start("u1", "web")
    at = datetime.now(UTC) - timedelta(seconds=5)
    result = client.send_events(
        [
            {
                "user_id": "u1",
                "type": "page_view",
                "name": "/home",
                "session_id": session.id,
                "at": at,
                "properties": {"ref": "mail"},
            },
            {"event_id": "fixed-1", "user_id": "u1", "type": "action", "name": "buy"},
            {"user_id": "u1", "type": "page_view", "name": "/x", "session_id": "missing"},
            {"user_id": "u1", "type": "bogus", "name": "/x"},
        ]
    )
    assert isinstance(result, EventBatchResult)
    assert [r.outcome for r in result.results] == [
        "stored",
        "stored",
        "session_not_found",
        "invalid",
    ]
    assert result.results[3].field == "events.3.type" and result.results[3].reason
    again = client.send_events(
        [{"event_id": "fixed-1", "user_id": "u1", "type": "action", "name": "buy"}]
    )
    assert again.duplicate == 1
    page = client.events(user_id="u1", limit=1)
    assert len(page.items) == 1 and page.next_cursor is not None
    assert sorted(e.name for e in client.iter_events(user_id="u1")) == ["/home", "buy"]
    mine = client.session_events(session.id).items
    assert [(e.name, e.properties) for e in mine] == [("/home", {"ref": "mail"})]
    assert abs(mine[0].at - at) < timedelta(milliseconds=1)  # stored in milliseconds


def test_settings_and_metrics(client: Client) -> None:
    assert client.settings().timezone == "UTC"
    assert client.put_settings(timezone="Europe/Prague").timezone == "Europe/Prague"
    try:
        client.put_settings(timezone="Nowhere/Land")
    except InvalidInput as exc:
        assert exc.field == "timezone"
    else:
        raise AssertionError("an unknown time zone was accepted")
    s = client.start("u1", "game")
    client.send_events([{"user_id": "u1", "type": "page_view", "name": "/", "session_id": s.id}])
    client.end(s.id)
    run = client.refresh_rollups()
    assert run.refreshed >= 2 and run.pending == 0
    daily = client.metrics_daily(days=1)
    assert isinstance(daily, DailyMetrics) and daily.timezone == "Europe/Prague"
    (row,) = daily.rows
    assert (row.kind, row.sessions_started, row.users) == ("game", 1, 1)
    assert row.events_by_type["page_view"] == 1 and row.top_names[0].name == "/"
    summary = client.metrics_summary("week", kind="game")
    assert isinstance(summary, Summary) and summary.current.sessions_started == 1
    assert summary.change.sessions_started is None  # nothing the week before
    live = client.metrics_live()
    assert isinstance(live, LiveMetrics) and live.active_sessions == 0


async def test_the_async_client_has_the_same_methods(aclient: AsyncClient) -> None:
    s = await aclient.start("u2", "voice")
    result = await aclient.send_events(
        [{"user_id": "u2", "type": "custom", "name": "mute", "session_id": s.id}]
    )
    assert result.stored == 1
    assert [e.name async for e in aclient.iter_events(session_id=s.id)] == ["mute"]
    assert (await aclient.session_events(s.id)).items[0].type == "custom"
    live = await aclient.metrics_live()
    assert live.kinds["voice"].active_sessions == 1
    await aclient.put_settings(timezone="Asia/Tokyo")
    assert (await aclient.settings()).timezone == "Asia/Tokyo"
    await aclient.refresh_rollups()
    daily = await aclient.metrics_daily(days=2, kind="voice")
    assert daily.rows and daily.rows[-1].by_status["active"] == 1
    assert (await aclient.metrics_summary("month")).period == "month"
