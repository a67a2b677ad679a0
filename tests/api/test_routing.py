"""The app's routes lie in one list, matched once each, and keep the app's operation names."""

from __future__ import annotations

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from sessionkeeper.api import routing
from sessionkeeper.api.openapi import operation_id
from tests.support import Harness


def test_every_route_of_the_app_is_its_own_not_an_included_router(api: Harness) -> None:
    app = api.app
    kinds = {type(route).__name__ for route in app.router.routes}
    assert all(isinstance(route, APIRoute | Route | Mount) for route in app.router.routes), kinds
    api_routes = [route for route in app.router.routes if isinstance(route, APIRoute)]
    assert len(api_routes) > 100
    assert all(route.unique_id == operation_id(route) for route in api_routes)


def test_operation_ids_in_the_document_are_the_handlers_names_in_camel_case(
    api: Harness,
) -> None:
    document = api.app.openapi()
    ids = [
        operation["operationId"]
        for operations in document["paths"].values()
        for operation in operations.values()
    ]
    assert "heartbeatSession" in ids and "startSession" in ids
    assert len(ids) == len(set(ids))
    assert not [name for name in ids if "_" in name]


def test_a_route_named_another_way_is_refused() -> None:
    plain = APIRouter()

    @plain.get("/x")
    async def get_x() -> dict[str, str]:
        return {}

    with pytest.raises(ValueError, match="api_router"):
        routing.include(FastAPI(), plain)


def test_included_routes_answer_in_order_and_unmatched_methods_get_405() -> None:
    app = FastAPI()
    first, second = routing.api_router(prefix="/v1"), routing.api_router(prefix="/v1")

    @first.get("/things/stats")
    async def thing_stats() -> dict[str, str]:
        return {"from": "stats"}

    @second.get("/things/{thing}")
    async def get_thing(thing: str) -> dict[str, str]:
        return {"from": thing}

    routing.include(app, first)
    routing.include(app, second)
    client = TestClient(app)
    assert client.get("/v1/things/stats").json() == {"from": "stats"}
    assert client.get("/v1/things/a").json() == {"from": "a"}
    assert client.post("/v1/things/a").status_code == 405
    assert client.get("/v1/nothing").status_code == 404


async def test_a_trailing_slash_is_a_404_never_a_redirect_to_another_resource(
    api: Harness,
) -> None:
    """``/v1/keys/12%2F`` once redirected to ``/v1/keys/12``: a client following redirects
    would have revoked key 12."""
    await api.post("/v1/sessions", {"id": "game-42", "user_id": "u", "kind": "game"})
    key = (await api.post("/v1/keys", {"scope": "read"})).json()["id"]
    for method, path in (
        ("GET", "/v1/sessions/game-42/"),
        ("GET", "/v1/sessions/game-42%2F"),
        ("DELETE", f"/v1/keys/{key}%2F"),
        ("GET", "/v1/sessions/"),
    ):
        answer = await api.client.request(method, path, headers=api.auth())
        assert answer.status_code == 404, (method, path, answer.status_code)
        assert answer.headers["content-type"].startswith("application/problem+json")
    listed = (await api.get("/v1/keys")).json()["items"]
    assert [k["revoked_at"] for k in listed if k["id"] == key] == [None]
    # People type the dashboard's address with a slash: that one still leads there.
    typed = await api.client.get("/admin/")
    assert typed.status_code == 308 and typed.headers["location"].endswith("/admin")
