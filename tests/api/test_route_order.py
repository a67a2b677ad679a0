"""The order routers are matched in: the routes clients call at a rate first, and no request
that two routers' routes could both take, so that the order decides speed, never meaning."""

from __future__ import annotations

import itertools
import re

from fastapi import APIRouter
from fastapi.routing import APIRoute

from sessionkeeper.api import session_reports, sessions
from sessionkeeper.api.app import routers_in_matching_order
from sessionkeeper.assembly import FEATURES
from sessionkeeper.links.tracker_routes import script_router

# ``{name}`` takes one segment, ``{name:path}`` the rest of the path (one segment or more).
_PARAM = re.compile(r"^\{[^}:]+(?::(\w+))?\}$")


def _overlap(left: list[str], right: list[str]) -> bool:
    """Whether some path matches both segment lists."""
    if not left or not right:
        return not left and not right
    a, b = left[0], right[0]
    rest_a, rest_b = left[1:], right[1:]
    kind_a, kind_b = _PARAM.match(a), _PARAM.match(b)
    if kind_a and kind_a.group(1) == "path":
        return any(_overlap(rest_a, right[i:]) for i in range(1, len(right) + 1))
    if kind_b and kind_b.group(1) == "path":
        return _overlap(right, left)
    if kind_a or kind_b or a == b:
        return _overlap(rest_a, rest_b)
    return False


def _segments(route: APIRoute) -> list[str]:
    return route.path.strip("/").split("/")


def test_segments_overlap_as_starlette_matches_them() -> None:
    def seg(path: str) -> list[str]:
        return path.strip("/").split("/")

    assert _overlap(seg("/v1/sessions/{id}"), seg("/v1/sessions/stats"))
    assert not _overlap(seg("/v1/sessions/{id}"), seg("/v1/sessions/{id}/end"))
    assert _overlap(seg("/r/{user:path}/leave"), seg("/r/a/b/leave"))
    assert not _overlap(seg("/r/{user:path}/leave"), seg("/r/leave"))
    assert not _overlap(seg("/t/{token}"), seg("/tracker.js"))


def _routes(router: APIRouter) -> list[APIRoute]:
    return [route for route in router.routes if isinstance(route, APIRoute)]


def test_no_request_is_taken_by_the_routes_of_two_routers() -> None:
    allowed = {(id(session_reports.router), id(sessions.router))}
    routers = routers_in_matching_order(FEATURES)
    assert routers[-1] is script_router  # its path is a setting: tried after every other
    clashes = []
    for first, second in itertools.combinations(routers[:-1], 2):
        if (id(first), id(second)) in allowed:
            continue
        for a, b in itertools.product(_routes(first), _routes(second)):
            if a.methods & b.methods and _overlap(_segments(a), _segments(b)):
                clashes.append((sorted(a.methods & b.methods), a.path, b.path))
    assert clashes == []


def test_the_reports_come_before_the_session_ids_they_would_be_read_as() -> None:
    routers = routers_in_matching_order(FEATURES)
    assert routers.index(session_reports.router) < routers.index(sessions.router)


def test_the_routes_clients_call_at_a_rate_are_tried_first() -> None:
    routers = routers_in_matching_order(FEATURES)
    ingest = {id(router) for feature in FEATURES for router in feature.ingest_routers}
    others = {id(router) for feature in FEATURES for router in feature.routers}
    assert ingest and others and not ingest & others
    last_ingest = max(i for i, router in enumerate(routers) if id(router) in ingest)
    first_other = min(i for i, router in enumerate(routers) if id(router) in others)
    assert last_ingest < first_other
    paths = [route.path for router in routers for route in _routes(router)]
    for path in ("/v1/sessions/{session_id}/heartbeat", "/t/{token}", "/v1/tracker/beat"):
        assert paths.index(path) < paths.index("/admin/login")
