"""Fetching a tenant's JWKS document from its URL, as carefully as a webhook is sent.

The host is resolved once and every address checked (no private, loopback or link-local
targets unless ``SESSIONKEEPER_WEBHOOK_ALLOW_PRIVATE``); the request goes to the checked
address with the name in ``Host`` and as the TLS server name (``webhooks/targets.py``), follows
no redirect, uses no proxy from the environment, and reads at most :data:`MAX_BYTES`.

A document is fetched when the tenant sets the URL and then by the hourly refresh job, never
while a token is being checked: a slow or hostile key server cannot slow requests down.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx

from sessionkeeper.webhooks.rules import TargetRefused
from sessionkeeper.webhooks.sender import http_client
from sessionkeeper.webhooks.targets import resolve

TIMEOUT_S = 5.0
MAX_BYTES = 64 * 1024


class JwksUnavailable(Exception):
    """The document could not be fetched or read; the message says why."""


async def fetch(url: str, *, allow_private: bool) -> dict[str, Any]:
    try:
        with anyio.fail_after(TIMEOUT_S):
            target = await resolve(url, allow_private=allow_private)
            extensions = {}
            if target.tls_server_name is not None:
                extensions["sni_hostname"] = target.tls_server_name
            async with http_client() as client:
                for index, address_url in enumerate(target.urls):
                    request = client.build_request(
                        "GET",
                        address_url,
                        headers={"host": target.host_header, "accept": "application/json"},
                        extensions=extensions,
                    )
                    try:
                        response = await client.send(request, stream=True)
                    except httpx.ConnectError:
                        if index == len(target.urls) - 1:
                            raise
                        continue
                    try:
                        body = await _read(response)
                    finally:
                        await response.aclose()
                    break
    except TargetRefused as exc:
        raise JwksUnavailable(f"refused: {exc}") from exc
    except TimeoutError as exc:
        raise JwksUnavailable(f"no answer within {TIMEOUT_S:.0f} s") from exc
    except httpx.HTTPError as exc:
        raise JwksUnavailable(f"{type(exc).__name__}: {exc}") from exc
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise JwksUnavailable("the answer is not JSON") from exc
    if not isinstance(document, dict):
        raise JwksUnavailable("the answer is not a JWKS document")
    return document


async def _read(response: httpx.Response) -> bytes:
    if response.status_code != 200:
        raise JwksUnavailable(f"the server answered {response.status_code}")
    body = b""
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > MAX_BYTES:
            raise JwksUnavailable(f"the document is over {MAX_BYTES} bytes")
    return body
