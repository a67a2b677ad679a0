"""What the client shares with the server's API contract, spelled here so that the client
imports nothing of the server and ships with httpx as its only dependency.

The values are the API's own (``tests/client/test_protocol.py`` checks them against the
server's): the session statuses and end reasons, the name of a tenant's default policy, how
many heartbeats a default timeout spans, and the time-ordered id format.
"""

from __future__ import annotations

import os
import time
from enum import StrEnum

from sessionkeeper import __version__

VERSION = __version__


class Status(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"


class EndReason(StrEnum):
    CLIENT = "client"
    TIMEOUT = "timeout"
    PRESENCE_LOST = "presence_lost"
    CLEANUP = "cleanup"
    ADMIN = "admin"


# The kind under which a tenant's default policy is listed.
DEFAULT_KIND = "*"
# A default timeout is this many heartbeat intervals.
TIMEOUT_HEARTBEATS = 5

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_session_id() -> str:
    """A time-ordered id in the server's own format (ULID layout: 48 bits of milliseconds,
    80 random bits, Crockford base32), made here so that a retried start repeats it."""
    value = (time.time_ns() // 1_000_000 & ((1 << 48) - 1)) << 80 | int.from_bytes(
        os.urandom(10), "big"
    )
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))
