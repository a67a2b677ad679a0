"""Routes whose path parameters are whole segments of the path as the client sent it.

The server decodes a request's path before routing, so ``/v1/users/team%2Falice/sessions``
arrives as ``/v1/users/team/alice/sessions`` and a parameter could never hold a ``/``. A
:class:`SegmentRoute` matches the path as sent instead: each segment decoded on its own, so a
percent-encoded ``/`` (or ``%``) stays inside its parameter. A parameter is then exactly one
segment, which keeps every path unambiguous (``/v1/users/team/alice/sessions`` is not the
user ``team/alice``: it matches no route). Paths without a ``%`` are matched as usual.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from starlette.routing import Match
from starlette.types import Scope

from sessionkeeper.api.strict_json import StrictJSONRoute


def _kept_in_segment(segment: str) -> str:
    """A decoded segment, with what would split or re-decode it encoded again."""
    return unquote(segment).replace("%", "%25").replace("/", "%2F")


def segment_scope(scope: Scope) -> Scope | None:
    """``scope`` with its path re-made from the raw path, segment by segment; None when that
    changes nothing (no ``%`` sent) or the raw path is not the one the path was decoded from."""
    raw = scope.get("raw_path")
    if scope["type"] != "http" or not raw or b"%" not in raw:
        return None
    segments = raw.decode("latin-1").split("/")
    if "/".join(unquote(segment) for segment in segments) != scope["path"]:
        return None
    return {**scope, "path": "/".join(_kept_in_segment(segment) for segment in segments)}


class SegmentRoute(StrictJSONRoute):
    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        segmented = segment_scope(scope)
        if segmented is None:
            return super().matches(scope)
        match, child = super().matches(segmented)
        if match is not Match.NONE:
            params: dict[str, Any] = child["path_params"]
            for name in self.param_convertors:
                if isinstance(params.get(name), str):
                    params[name] = unquote(params[name])
        return match, child
