"""Daily rollups per tenant, day and kind, kept current incrementally, and the history API.

A change to sessions or events marks its (tenant, day) in the same transaction (the
in-transaction subscriber in ``marking``); a job recomputes the marked days in bounded chunks
(``service``); ``history`` answers from the rollups.
"""

from __future__ import annotations

from sessionkeeper.feature import Feature, Subscriptions
from sessionkeeper.rollups.bundle import Rollups
from sessionkeeper.rollups.cli import app as cli_app
from sessionkeeper.rollups.history import HistoryService
from sessionkeeper.rollups.jobs import periodic
from sessionkeeper.rollups.marking import ChangeMarker
from sessionkeeper.rollups.retention import Retention
from sessionkeeper.rollups.routes import router
from sessionkeeper.rollups.service import RollupService
from sessionkeeper.services.container import Services


def build(services: Services) -> Rollups:
    refresher = RollupService(services.runtime)
    return Rollups(
        refresher=refresher,
        history=HistoryService(services.runtime),
        retention=Retention(services.runtime, refresher),
    )


FEATURE: Feature[Rollups] = Feature(
    name="rollups",
    build=build,
    routers=[router],
    jobs=periodic,
    subscriptions=lambda rollups: Subscriptions(
        in_transaction=[ChangeMarker(rollups.refresher.rt.clock)]
    ),
    commands=[("rollup", cli_app)],
)
