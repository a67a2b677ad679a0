"""The OpenAPI document tells the truth, and /docs works without the internet."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessionkeeper.api import docs
from tests.support import Harness

STATIC = Path(docs.__file__).parent / "static" / "swagger-ui"


@pytest.fixture
async def document(api: Harness) -> dict[str, Any]:
    response = await api.client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for path in document["paths"].values() for op in path.values()}


async def test_operation_ids_are_readable(document: dict[str, Any]) -> None:
    ids = set(operations(document))
    assert {
        "startSession",
        "heartbeatSession",
        "endSession",
        "getSession",
        "listSessions",
        "heartbeatBatch",
        "putPolicy",
        "listPolicies",
        "putPresenceSnapshot",
        "postPresenceChanges",
        "getHealth",
        "runSweep",
        "getMetrics",
        "listKeys",
        "createKey",
        "revokeKey",
        "listTenants",
        "createTenant",
    } <= ids
    assert all(re.fullmatch(r"[a-z]+([A-Z][a-z]*)*", i) for i in ids), ids


async def test_each_operation_lists_the_statuses_it_can_return(document: dict[str, Any]) -> None:
    statuses = {name: set(op["responses"]) for name, op in operations(document).items()}
    assert statuses["startSession"] == {
        "200",
        "201",
        "401",
        "403",
        "429",
        "409",
        "413",
        "415",
        "422",
        "503",
    }
    assert statuses["getSession"] == {"200", "401", "403", "404", "429", "503"}
    assert statuses["listSessions"] == {"200", "401", "403", "422", "429", "503"}
    assert statuses["heartbeatSession"] == {
        "200",
        "401",
        "403",
        "429",
        "404",
        "409",
        "413",
        "415",
        "422",
        "503",
    }
    assert statuses["getLiveness"] == {"200"}
    assert statuses["getHealth"] == {"200", "401", "403", "422", "429"}
    assert statuses["getMetrics"] == {"200", "401", "403", "503"}
    assert statuses["revokeKey"] == {"200", "401", "403", "404", "422", "429", "503"}
    for name, op in operations(document).items():
        for status, response in op["responses"].items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/problem+json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (name, status)
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_problem_declares_errors_and_the_request_id(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]["properties"]
    assert {"errors", "field", "code", "request_id"} <= set(problem)


async def test_session_answers_and_the_end_body_describe_the_outcome(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    nullable_outcome = [{"$ref": "#/components/schemas/OutcomeOut"}, {"type": "null"}]
    for name in ("SessionOut", "HeartbeatOut"):
        outcome = schemas[name]["properties"]["outcome"]
        assert outcome["anyOf"] == nullable_outcome and "outcome" not in schemas[name]["required"]
    assert "heartbeat" in schemas["HeartbeatOut"]["properties"]["outcome"]["description"]
    assert set(schemas["OutcomeOut"]["properties"]) == {
        "metrics",
        "counters",
        "tags",
        "metadata",
        "updated_at",
    }
    end = schemas["SessionEnd"]
    assert end["properties"]["outcome"]["anyOf"][0] == {"$ref": "#/components/schemas/OutcomeBody"}
    assert end["additionalProperties"] is False
    assert set(schemas["OutcomeBody"]["properties"]) == {"metrics", "counters", "tags", "metadata"}
    # The listing's items are sessions, so they carry it too.
    page = schemas["SessionPage"]["properties"]["items"]["items"]
    assert page == {"$ref": "#/components/schemas/SessionOut"}


async def test_metrics_are_documented_as_text(document: dict[str, Any]) -> None:
    content = operations(document)["getMetrics"]["responses"]["200"]["content"]
    assert list(content) == ["text/plain"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/sessions", {"user_id": "u"}),  # request validation
        (
            "POST",
            "/v1/sessions",
            {"user_id": "u", "kind": "game", "started_at": "2000-01-01T00:00:00Z"},
        ),
        ("GET", "/v1/sessions?cursor=nope", None),  # refused by the route
        ("PUT", "/v1/policies/game", {"heartbeat_interval_s": 60.0, "timeout_s": 30.0}),
        ("GET", "/v1/keys?cursor=x", None),
    ],
)
async def test_every_422_carries_errors(api: Harness, method: str, path: str, body: Any) -> None:
    response = await api.client.request(method, path, json=body, headers=api.auth())
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"] and problem["errors"][0]["field"] == problem["field"]


async def test_docs_page_uses_only_assets_of_this_server(api: Harness) -> None:
    page = await api.client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
    urls += re.findall(r"""url: ?["']([^"']+)["']""", page.text)
    assert urls, page.text
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    assert "http://" not in page.text and "https://" not in page.text
    for url in urls:
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
    js = await api.client.get("/docs/assets/swagger-ui-bundle.js")
    assert js.headers["content-type"].startswith(("text/javascript", "application/javascript"))
    assert (
        (await api.client.get("/docs/assets/swagger-ui.css"))
        .headers["content-type"]
        .startswith("text/css")
    )
    assert (await api.client.get("/redoc")).status_code == 404  # it would need a CDN


async def test_docs_follow_the_path_prefix_of_a_reverse_proxy(api: Harness) -> None:
    # What uvicorn hands the app behind a proxy serving it under /sk (root_path).
    transport = httpx.ASGITransport(app=api.app, root_path="/sk")
    async with httpx.AsyncClient(transport=transport, base_url="http://sk.test") as client:
        page = await client.get("/sk/docs")
        assert page.status_code == 200
        assert "'/sk/openapi.json'" in page.text
        assert '"/sk/docs/assets/swagger-ui-bundle.js"' in page.text
        assert (await client.get("/sk/docs/assets/swagger-ui.css")).status_code == 200
        assert (await client.get("/sk/openapi.json")).status_code == 200
        assert (await client.get("/sk/v1/sessions", headers=api.auth())).status_code == 200


def test_the_vendored_assets_are_the_npm_packages_files() -> None:
    manifest = json.loads((STATIC / "VENDORED.json").read_text())
    assert manifest["package"] == "swagger-ui-dist"
    assert re.fullmatch(r"\d+\.\d+\.\d+", manifest["version"])
    on_disk = {p.name for p in STATIC.iterdir() if p.name != "VENDORED.json"}
    assert on_disk == set(manifest["files"])
    for name, digest in manifest["files"].items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, name
