"""The tracker script's path is a setting; one that an API route also takes leaves that route
answering (the script's route is tried after every other, ``routers_in_matching_order``)."""

from __future__ import annotations

import pytest

from tests.support import running_app


@pytest.mark.parametrize("taken", ["/v1/policies", "/v1/health", "/v1/webhooks"])
async def test_a_tracker_path_an_api_route_takes_leaves_the_api_route_answering(
    sqlite_url: str, taken: str
) -> None:
    async with running_app(sqlite_url, tracker_path=taken) as api:
        answer = await api.get(taken)
    assert answer.headers["content-type"].startswith("application/json"), (
        f"GET {taken} answered {answer.status_code} {answer.headers['content-type']}"
    )
