"""One delivery attempt over HTTP: resolve and check the target, POST the signed body, note
the status (and ``Retry-After``). The answer's body is never read: a receiver could send
anything, and only the status matters. Redirects are not followed (a 3xx is a failure, as
the spec advises: the endpoint's URL should be corrected instead)."""

from __future__ import annotations

import anyio
import httpx

from sessionkeeper.webhooks.rules import ATTEMPT_TIMEOUT_S, Attempt, TargetRefused
from sessionkeeper.webhooks.targets import resolve

USER_AGENT = "sessionkeeper-webhooks"
MAX_ERROR_LENGTH = 500


def http_client() -> httpx.AsyncClient:
    """The client deliveries are sent with: no redirects, no proxy settings from the
    environment (the target has been checked; a proxy would not be), one timeout.

    No connection is kept for reuse: requests go to an IP, so two endpoints whose names share
    an address (a CDN, shared hosting) would otherwise share a TLS connection verified for
    one of the names only.
    """
    return httpx.AsyncClient(
        timeout=ATTEMPT_TIMEOUT_S,
        follow_redirects=False,
        trust_env=False,
        limits=httpx.Limits(max_keepalive_connections=0),
        headers={"user-agent": USER_AGENT},
    )


async def send(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    payload: bytes,
    *,
    allow_private: bool,
) -> Attempt:
    try:
        with anyio.fail_after(ATTEMPT_TIMEOUT_S):
            target = await resolve(url, allow_private=allow_private)
            extensions = {}
            if target.tls_server_name is not None:
                extensions["sni_hostname"] = target.tls_server_name
            for index, address_url in enumerate(target.urls):
                request = client.build_request(
                    "POST",
                    address_url,
                    content=payload,
                    headers={**headers, "host": target.host_header},
                    extensions=extensions,
                )
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError:
                    if index == len(target.urls) - 1:
                        raise
                    continue  # nothing was sent: the next address may answer
                await response.aclose()
                break
    except TargetRefused as exc:
        return Attempt(error=_short(f"refused: {exc}"))
    except TimeoutError:
        return Attempt(error=f"no answer within {ATTEMPT_TIMEOUT_S:.0f} s")
    except httpx.HTTPError as exc:
        return Attempt(error=_short(f"{type(exc).__name__}: {exc}"))
    retry_after = response.headers.get("retry-after")
    return Attempt(status_code=response.status_code, retry_after=retry_after)


def _short(text: str) -> str:
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"
