"""Two server processes writing the same rows at the same moment, on PostgreSQL: a limit
holds across them, and a check that another process's write overtook answers as if it had
come after it (a 409, not a 500). Two apps on one database, each with its own writer
thread and connections, stand for the two processes."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from sessionkeeper.webhooks.service import MAX_ENDPOINTS
from tests.support import OPERATOR, OPERATOR_KEY, Harness, running_app

pytestmark = pytest.mark.usefixtures("pg_url")


@pytest.fixture
async def two(pg_url: str) -> AsyncIterator[tuple[Harness, Harness]]:
    settings = {"webhook_allow_private": True, "operator_key": OPERATOR_KEY}
    async with running_app(pg_url, **settings) as one, running_app(pg_url, **settings) as other:
        yield one, other


async def test_the_webhook_limit_holds_across_processes(two: tuple[Harness, Harness]) -> None:
    body = {"url": "http://127.0.0.1:9/hook", "events": ["session.ended"]}
    answers = await asyncio.gather(
        *(two[n % 2].post("/v1/webhooks", body) for n in range(2 * MAX_ENDPOINTS))
    )
    statuses = Counter(answer.status_code for answer in answers)
    assert statuses == {201: MAX_ENDPOINTS, 409: MAX_ENDPOINTS}
    assert {a.json()["code"] for a in answers if a.status_code == 409} == {"webhook_limit"}
    assert len((await two[0].get("/v1/webhooks")).json()["items"]) == MAX_ENDPOINTS


async def test_one_tenant_name_created_at_once_is_made_once(
    two: tuple[Harness, Harness],
) -> None:
    for round_ in range(5):
        answers = await asyncio.gather(
            *(
                two[n % 2].client.post("/v1/tenants", json={"name": f"t{round_}"}, headers=OPERATOR)
                for n in range(4)
            )
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201, 409, 409, 409], [a.text for a in answers]
        assert {a.json()["code"] for a in answers if a.status_code == 409} == {"tenant_exists"}


async def test_rollups_run_at_once_in_two_processes(two: tuple[Harness, Harness]) -> None:
    one, other = two
    for n in range(10):
        await one.post("/v1/sessions", {"id": f"s{n}", "user_id": "u", "kind": "game"})
        one.advance(60)
        await one.post(f"/v1/sessions/s{n}/end", {})
        answers = await asyncio.gather(
            *(two[k % 2].post("/v1/maintenance/rollup") for k in range(6))
        )
        assert [a.status_code for a in answers] == [200] * 6, [a.text for a in answers]
    daily = (await other.get("/v1/metrics/daily")).json()
    assert sum(row["sessions_started"] for row in daily["rows"]) == 10
