"""Tracking links and the browser tracker.

``POST /v1/links`` makes a url whose click starts a session (``source`` "link"); the browser
tracker (``/tracker.js``) starts, beats and ends sessions from a web page with a publishable
key, counting engaged, visible and wall time. See ``docs/links-and-tracker.md``.
"""

from __future__ import annotations

from sessionkeeper.feature import Feature
from sessionkeeper.links import rules, service, tracker_service
from sessionkeeper.links import tables as tables
from sessionkeeper.links.click_routes import router as click_router
from sessionkeeper.links.container import LinkServices
from sessionkeeper.links.jobs import jobs
from sessionkeeper.links.routes import router
from sessionkeeper.links.tracker_routes import install_script, script_router
from sessionkeeper.links.tracker_routes import router as tracker_router
from sessionkeeper.services.container import Services


def _build(services: Services) -> LinkServices:
    built = LinkServices.build(services)
    # The script's path is a setting: its route is made once the settings are known, before
    # the app includes the routers.
    script_router.routes[:] = install_script(services.runtime.settings.tracker_path).routes
    return built


FEATURE: Feature[LinkServices] = Feature(
    name="links",
    build=_build,
    jobs=jobs,
    # The script's route last of all: its path is a setting, and one that an API route
    # also takes must leave that route answering.
    routers=(router, script_router),
    ingest_routers=(click_router, tracker_router),
    session_sources=(service.SOURCE, tracker_service.SOURCE),
    owned_attributes=dict.fromkeys((service.SOURCE, tracker_service.SOURCE), rules.COUNTER_KEYS),
)
