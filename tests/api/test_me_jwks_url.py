"""A JWKS given by URL: fetched when set (refusing private targets unless allowed), kept, and
fetched again by the refresh job, which keeps the old keys when the server fails."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from sessionkeeper.learning.service import Learning
from tests.api.end_users import AUDIENCE, ISSUER, bearer, claims, jwks, rs_token
from tests.support import Harness, running_app


class KeyServer:
    """Serves ``document`` at /jwks.json on 127.0.0.1; ``status`` other than 200 to fail."""

    def __init__(self) -> None:
        self.document: dict[str, Any] = jwks()
        self.status = 200
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.document).encode()
                self.send_response(server.status if self.path == "/jwks.json" else 404)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}/jwks.json"


@pytest.fixture
def key_server() -> Iterator[KeyServer]:
    server = KeyServer()
    thread = threading.Thread(target=server.http.serve_forever, daemon=True)
    thread.start()
    yield server
    server.http.shutdown()
    server.http.server_close()


@pytest.fixture
async def api_private(sqlite_url: str) -> AsyncIterator[Harness]:
    async with running_app(sqlite_url, webhook_allow_private=True) as harness:
        yield harness


def _settings(url: str) -> dict[str, Any]:
    return {"algorithms": ["RS256"], "jwks": url, "issuer": ISSUER, "audience": AUDIENCE}


async def test_a_jwks_url_is_fetched_kept_and_refreshed(
    api_private: Harness, key_server: KeyServer
) -> None:
    api = api_private
    r = await api.put("/v1/settings/auth", _settings(key_server.url))
    assert r.status_code == 200, r.text
    assert r.json()["jwks_url"] == key_server.url
    assert r.json()["jwks"] == key_server.document
    assert key_server.requests == 1
    ok = await api.client.get("/v1/me/sessions", headers=bearer(rs_token(api, "alice")))
    assert ok.status_code == 200
    assert key_server.requests == 1  # checking a token fetches nothing

    # The keys rotate: a token of the new key is refused until the refresh job runs.
    new_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_server.document = {
        "keys": [{**json.loads(RSAAlgorithm.to_jwk(new_key.public_key())), "kid": "rsa-2"}]
    }
    token = jwt.encode(claims(api, "alice"), new_key, algorithm="RS256", headers={"kid": "rsa-2"})
    assert (await api.client.get("/v1/me/sessions", headers=bearer(token))).status_code == 401
    learning = api.services.of(Learning)
    key_server.status = 500
    assert await learning.refresh_jwks() == 0  # a failing server keeps the keys in use
    assert (
        await api.client.get("/v1/me/sessions", headers=bearer(rs_token(api, "alice")))
    ).status_code == 200
    key_server.status = 200
    assert await learning.refresh_jwks() == 1
    assert (await api.client.get("/v1/me/sessions", headers=bearer(token))).status_code == 200
    assert (
        await api.client.get("/v1/me/sessions", headers=bearer(rs_token(api, "alice")))
    ).status_code == 401
    assert await learning.refresh_jwks() == 0  # unchanged


async def test_a_jwks_url_that_fails_is_422(api_private: Harness, key_server: KeyServer) -> None:
    key_server.status = 404
    r = await api_private.put("/v1/settings/auth", _settings(key_server.url))
    assert r.status_code == 422 and r.json()["field"] == "jwks"
    assert "404" in r.json()["detail"]
    key_server.status = 200
    key_server.document = {"keys": "none"}
    r = await api_private.put("/v1/settings/auth", _settings(key_server.url))
    assert r.status_code == 422 and r.json()["field"] == "jwks"


async def test_a_private_jwks_url_is_refused_by_default(
    api: Harness, key_server: KeyServer
) -> None:
    r = await api.put("/v1/settings/auth", _settings(key_server.url))
    assert r.status_code == 422 and r.json()["field"] == "jwks"
    assert "loopback" in r.json()["detail"]
    assert key_server.requests == 0
