"""The caps on free-form JSON a client stores (session attributes), checked on every write
path: the start, and the merge a heartbeat makes into what is stored.

What is stored must come back unchanged on every later read: encodable as UTF-8 JSON, finite
numbers, bounded in key count, depth and size. A value that passed once and failed on every
read after would be worse than a 422 now.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

MAX_KEYS = 100
MAX_DEPTH = 32
MAX_BYTES = 64 * 1024


def depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def problem(value: Mapping[str, Any], *, name: str = "attributes") -> str | None:
    """Why ``value`` cannot be stored as ``name``, or None when it can."""
    if len(value) > MAX_KEYS:
        return f"{name} have {len(value)} keys; at most {MAX_KEYS} are allowed"
    if depth(dict(value)) > MAX_DEPTH:
        return f"{name} nest deeper than {MAX_DEPTH} levels"
    try:
        encoded = json.dumps(value, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, UnicodeEncodeError, TypeError) as exc:
        return f"{name} are not storable JSON: {exc}"
    if len(encoded) > MAX_BYTES:
        return f"{name} are larger than {MAX_BYTES} bytes as JSON"
    return None
