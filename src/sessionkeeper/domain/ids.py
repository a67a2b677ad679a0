"""Time-ordered session ids, made by the server when a client sends none.

26 characters of Crockford base32 (the ULID layout): 48 bits of milliseconds, then 80 random
bits. Ids sort by creation time, which keeps inserts at the right end of the index.
"""

from __future__ import annotations

import re

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
MAX_SESSION_ID = 64
# The largest row id (of keys, tenants, audit entries…) a cursor or filter may name: a 64-bit
# signed integer, what both databases' integer columns and parameters hold.
MAX_ROW_ID = 2**63 - 1
# 1-64 of [A-Za-z0-9_.:-], not only dots: "." and ".." are dot segments, which HTTP clients
# remove from a URL's path, so a session with such an id could never be addressed.
SESSION_ID_PATTERN = r"^[A-Za-z0-9_.:-]*[A-Za-z0-9_:-][A-Za-z0-9_.:-]*$"
KIND_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
# Paths under /v1/sessions/ that are not session ids: no session may be started with them.
RESERVED_SESSION_IDS = frozenset({"stats", "export.csv"})
# The user id an erased user's rooms are kept under (they are shared with the other
# participants): no user may have it, or they would take over every such room.
ERASED_USER = "[erased]"
_SESSION_ID_RE = re.compile(SESSION_ID_PATTERN)
# Any id a session may have been stored with, including dot-only ids from before they were
# refused: what a listing's cursor may point at.
_STORED_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def time_ordered_id(now_ms: int, random_bytes: bytes) -> str:
    if len(random_bytes) != 10:
        raise ValueError("time_ordered_id needs exactly 10 random bytes")
    value = (now_ms & ((1 << 48) - 1)) << 80 | int.from_bytes(random_bytes, "big")
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def is_valid_session_id(value: str) -> bool:
    return len(value) <= MAX_SESSION_ID and bool(_SESSION_ID_RE.match(value))


def is_stored_session_id(value: str) -> bool:
    return bool(_STORED_ID_RE.match(value))
