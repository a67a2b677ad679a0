"""When to send a request again, and how long to wait first.

Every write of the API is idempotent under retry (starts carry an id, heartbeats only move
forward, ends repeat, snapshots are whole states), so any request may be sent again as long as
it is sent unchanged. What is retried is what may pass: 5xx, 429 and failures to reach the
server or to read its answer. A 4xx is an answer about the request itself and would repeat.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import httpx

from sessionkeeper.client.errors import ServerUnavailable, UnexpectedResponse, parse_retry_after

# Connection refused/reset, timeouts, and a server that closed the connection mid-answer
# (a restart). Not included: UnsupportedProtocol, LocalProtocolError, ProxyError, which are
# mistakes in the client's set-up and would fail again.
RETRYABLE_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)

# A Retry-After or backoff beyond this is cut short: a client blocked for an hour helps nobody.
MAX_DELAY_S = 60.0


def is_retryable_status(status: int) -> bool:
    # 408: the server gave up waiting for the request; sent again, it may well arrive in time.
    return status >= 500 or status in (408, 429)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    retries: int
    backoff: float

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0 for the first).

        Exponential with "equal jitter": half the step is fixed, so the waits keep growing, and
        half is random, so many clients failing together do not come back in lockstep. A
        server's Retry-After is a lower bound.
        """
        step = min(MAX_DELAY_S, self.backoff * 2.0**attempt)
        wait = step / 2 + random.uniform(0, step / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_DELAY_S))
        return wait

    def after_response(self, response: httpx.Response, attempt: int, limit: int) -> float | None:
        """The wait before the next attempt, or None when this answer is final."""
        if attempt >= limit or not is_retryable_status(response.status_code):
            return None
        return self.delay(attempt, parse_retry_after(response.headers.get("Retry-After")))


def is_transient(error: Exception) -> bool:
    """Worth sending again unchanged: no answer, a 5xx or 429, or an answer not understood.
    Anything else (a 4xx, a closed client, a mistake in the client's set-up) would repeat."""
    return isinstance(error, (ServerUnavailable, UnexpectedResponse, *RETRYABLE_ERRORS))


def wait_after(policy: RetryPolicy, failures: int, error: Exception, ceiling: float) -> float:
    """The wait after ``failures`` failures in a row, for a loop that keeps trying at least
    every ``ceiling`` seconds (it has fresh evidence to deliver by then); a server's
    Retry-After comes first, since sending earlier only adds to the load it reported."""
    wait = min(policy.delay(failures - 1), ceiling)
    retry_after = error.retry_after if isinstance(error, ServerUnavailable) else None
    if retry_after is not None:
        wait = max(wait, min(retry_after, MAX_DELAY_S))
    return wait
