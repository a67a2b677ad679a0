"""The explicit list of change-event subscribers, built in one place.

In order: the kernel's metrics, then each feature's subscriptions in the order the assembly
lists the features.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sessionkeeper.services.metrics import count_events
from sessionkeeper.storage.writer import Subscribers

if TYPE_CHECKING:
    from sessionkeeper.feature import Feature
    from sessionkeeper.services.container import Services


def subscribers(services: Services, features: Sequence[Feature[Any]]) -> Subscribers:
    built = Subscribers()
    built.after_commit.append(partial(count_events, services.runtime.metrics))
    for feature in features:
        subscriptions = feature.subscriptions(services.feature(feature.name))
        built.react.extend(subscriptions.react)
        built.derive.extend(subscriptions.derive)
        built.in_transaction.extend(subscriptions.in_transaction)
        built.after_commit.extend(subscriptions.after_commit)
    return built
