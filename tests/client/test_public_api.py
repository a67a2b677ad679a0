"""``sessionkeeper.client.__all__`` is exactly the public API, and every name in it exists."""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from typing import Any

import sessionkeeper.client as package

PUBLIC_API = {
    # clients and what they hand out
    "Client",
    "AsyncClient",
    "SessionHandle",
    "AsyncSessionHandle",
    "SessionOptions",
    "PresenceReporter",
    "AsyncPresenceReporter",
    "RoomRef",
    "AsyncRoomRef",
    "ParticipantHandle",
    "AsyncParticipantHandle",
    # results and inputs
    "Session",
    "Outcome",
    "AuditEntry",
    "AuditPage",
    "QualityGroup",
    "QualityReport",
    "QualityWorst",
    "ReasonTotals",
    "Page",
    "SessionFilters",
    "BatchItem",
    "BatchResult",
    "Policy",
    "Policies",
    "Health",
    "HeartbeatResult",
    "KindHealth",
    "SweepInfo",
    "SweepResult",
    "JobInfo",
    "PresenceEntry",
    "PresenceLeave",
    "PresenceResult",
    "PresenceSummary",
    "EntryRef",
    "SessionRef",
    "Filters",
    "SessionStats",
    "StatsGroup",
    "Webhook",
    "WebhookCreated",
    "WebhookSecret",
    "Delivery",
    "DeliveryPage",
    "Status",
    # the admin API
    "ApiKey",
    "ApiKeyPage",
    "NewApiKey",
    "Tenant",
    "NewTenant",
    "TenantPage",
    "EndReason",
    # analytics: events, metrics, settings
    "NewEvent",
    "EventFilters",
    "Event",
    "EventPage",
    "EventOutcome",
    "EventBatchResult",
    "DailyMetrics",
    "DailyRow",
    "TopName",
    "Summary",
    "PeriodMetrics",
    "MetricsChange",
    "LiveMetrics",
    "LiveKind",
    "TenantSettings",
    "RollupRun",
    # rooms
    "Room",
    "RoomPage",
    "RoomFilters",
    "Participant",
    "Segment",
    "Invite",
    "InviteStatus",
    "CleanupResult",
    "CleanupRun",
    "CleanupStatus",
    # errors
    "SessionkeeperError",
    "NotFound",
    "Conflict",
    "InvalidInput",
    "Unauthorized",
    "Forbidden",
    "Gone",
    "ServerUnavailable",
    "UnexpectedResponse",
}


def test_all_is_exactly_the_public_api() -> None:
    assert len(package.__all__) == len(set(package.__all__))
    assert set(package.__all__) == PUBLIC_API


def test_every_name_in_all_exists() -> None:
    for name in package.__all__:
        assert getattr(package, name) is not None, name


def test_nothing_public_is_left_out_of_all() -> None:
    exported = {
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert exported == set(package.__all__)


def test_every_type_a_public_result_holds_is_public_too() -> None:
    """A caller can name (import, annotate with) whatever a result hands out."""
    named: set[type] = set()

    def walk(hint: Any) -> None:
        for argument in typing.get_args(hint):
            walk(argument)
        if isinstance(hint, type) and hint.__module__.startswith(package.__name__):
            named.add(hint)

    for name in package.__all__:
        value = getattr(package, name)
        if dataclasses.is_dataclass(value):
            for hint in typing.get_type_hints(value, localns=vars(package)).values():
                walk(hint)
    assert named, "no result names a type of the package"
    assert {kind.__name__ for kind in named} <= set(package.__all__)


def test_errors_form_one_tree() -> None:
    errors = {"NotFound", "Conflict", "Gone", "InvalidInput", "Unauthorized", "Forbidden"}
    errors |= {"ServerUnavailable", "UnexpectedResponse"}
    for name in errors:
        error = getattr(package, name)
        assert inspect.isclass(error) and issubclass(error, package.SessionkeeperError)
