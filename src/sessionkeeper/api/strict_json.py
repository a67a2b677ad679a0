"""Request bodies are decoded as strict JSON: ``NaN``, ``Infinity``, numbers too large for a
float or too small to be told from zero, and duplicate keys in one object are refused.

Python's decoder accepts them by default; stored, they either read back as something else
(SQLite) or fail in the database (PostgreSQL). A duplicate key would silently keep the last
value, so a client's mistake would be acknowledged and half applied. Refusing them as
malformed JSON gives the client a 422 that names the problem (and the key).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON", name, 0)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):  # the rare case: find which key came twice
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise json.JSONDecodeError(f"duplicate key {json.dumps(key)} in an object", "", 0)
            seen.add(key)
    return result


def strict_loads(raw: bytes | str) -> Any:
    """JSON as this API accepts it (see the module's docstring)."""
    return json.loads(
        raw,
        parse_constant=_refuse_constant,
        parse_float=_finite_float,
        object_pairs_hook=_unique_keys,
    )


def _finite_float(text: str) -> float:
    value = float(text)
    # 1e400 is valid JSON syntax but no storable number; 1e-400 is not zero, yet would be
    # stored and sent back as 0.0.
    if math.isinf(value) or (value == 0 and _has_nonzero_digit(text)):
        raise json.JSONDecodeError(f"{text} is out of range for a number", text, 0)
    return value


def _has_nonzero_digit(text: str) -> bool:
    """Whether the number's digits (before any exponent) are not all zero."""
    mantissa = text.lower().partition("e")[0]
    return any(digit in "123456789" for digit in mantissa)


class StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict_handler
