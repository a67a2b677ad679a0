"""The client's learning calls against the app: outcomes, definitions and /v1/me with an end
user's token, parsed into the client's models."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest

from sessionkeeper.client import AsyncClient
from sessionkeeper.client import learning_calls as calls
from sessionkeeper.client.errors import InvalidInput, Unauthorized
from sessionkeeper.client.learning_models import SessionWithOutcome
from tests.api.end_users import configure, hs_token
from tests.support import Harness


def _client(api: Harness, credential: str) -> AsyncClient:
    transport = httpx.ASGITransport(app=api.app)
    return AsyncClient("http://sk.test", credential, transport=transport, retries=0)


async def test_an_end_user_through_the_client(api: Harness) -> None:
    await configure(api)
    async with _client(api, api.keys["admin"]) as admin:
        found = await admin.send(calls.put_metric_definition("score", 0, 100, unit="points"))
        assert (found.name, found.unit, found.higher_is_better) == ("score", "points", True)
        assert [d.name for d in (await admin.send(calls.metric_definitions())).items] == ["score"]
    async with _client(api, hs_token(api, "alice")) as me:
        session = await me.send(calls.me_start("lesson", label="Unit 3"))
        assert isinstance(session, SessionWithOutcome) and session.outcome is None
        assert session.user_id == "alice"
        assert (await me.send(calls.me_heartbeat(session.id))).applied
        api.advance(60)
        ended = await me.send(
            calls.me_end(session.id, outcome={"metrics": {"score": 90}, "tags": {"t": ["a"]}})
        )
        assert ended.outcome is not None and ended.outcome.metrics == {"score": 90.0}
        assert ended.duration_s == 60.0
        with pytest.raises(InvalidInput):
            await me.send(calls.me_put_outcome(session.id, metrics={"score": 101}))
        page = await me.send(calls.me_sessions(kind="lesson"))
        assert [s.id for s in page.items] == [session.id]
        stats = await me.send(calls.me_stats(period="month", tz="Europe/Prague"))
        assert stats.current.sessions == 1 and stats.current.metrics[0].average == 90.0
        assert stats.streaks.today == dt.date(2026, 1, 5)
        recap = await me.send(calls.me_recap())
        assert recap.last_session is not None and recap.last_session.id == session.id
    async with _client(api, api.keys["read"]) as reader:
        theirs = await reader.send(calls.user_sessions("alice"))
        assert theirs.items[0].outcome is not None
        assert (await reader.send(calls.user_stats("alice"))).current.sessions == 1
        assert (await reader.send(calls.user_recap("alice"))).user_id == "alice"
        with_outcome = await reader.send(calls.get_outcome(session.id))
        assert with_outcome.outcome is not None
    async with _client(api, api.keys["admin"]) as admin:
        assert (await admin.send(calls.put_outcome(session.id, counters={"w": 3}))).outcome
        erased = await admin.send(calls.erase_user("alice"))
        assert erased.erased["sessions"] == 1
    async with _client(api, hs_token(api, "alice", secret="x" * 40)) as forged:
        with pytest.raises(Unauthorized):
            await forged.send(calls.me_sessions())


async def test_the_client_ends_with_an_outcome_and_reads_it_on_sessions(api: Harness) -> None:
    await api.put("/v1/metric-definitions/score", {"min": 0, "max": 100})
    async with _client(api, api.keys["admin"]) as admin:
        started = await admin.start("team/alice", "lesson")
        assert started.outcome is None
        api.advance(60)
        with pytest.raises(InvalidInput) as refused:
            await admin.end(started.id, outcome={"metrics": {"score": 101}})
        assert refused.value.field == "metrics.score"
        assert (await admin.get(started.id)).is_active  # the refused outcome refused the end
        outcome = {"metrics": {"score": 90}, "tags": {"t": ["a"]}}
        ended = await admin.end(started.id, outcome=outcome)
        assert not ended.is_active and ended.duration_s == 60.0
        assert ended.outcome is not None and ended.outcome.metrics == {"score": 90.0}
        assert ended.outcome.tags == {"t": ["a"]} and ended.outcome.updated_at is not None
        again = await admin.get(started.id)
        assert again.outcome == ended.outcome
        listed = await admin.list()
        assert [s.outcome for s in listed.items] == [ended.outcome]
        # A user id with a "/" is sent as one path segment.
        theirs = await admin.send(calls.user_sessions("team/alice"))
        assert [s.id for s in theirs.items] == [started.id]
        assert (await admin.send(calls.user_stats("team/alice"))).user_id == "team/alice"
