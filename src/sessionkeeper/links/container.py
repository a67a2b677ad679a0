"""The feature's services, built once per process from the kernel's."""

from __future__ import annotations

from dataclasses import dataclass

from sessionkeeper.links.keys import PublishableKeys
from sessionkeeper.links.service import LinkService
from sessionkeeper.links.tracker_service import TrackerService
from sessionkeeper.services.container import Services


@dataclass(frozen=True)
class LinkServices:
    links: LinkService
    tracker: TrackerService
    keys: PublishableKeys

    @classmethod
    def build(cls, services: Services) -> LinkServices:
        runtime = services.runtime
        return cls(
            links=LinkService(runtime),
            tracker=TrackerService(runtime, services.sessions),
            keys=PublishableKeys(runtime),
        )
