"""The Python client of sessionkeeper.

    from sessionkeeper.client import Client

    with Client("http://127.0.0.1:8000", "sk_...") as client:
        with client.session(user_id="42", kind="game", label="Minecraft") as s:
            play()  # heartbeats run in the background; the session ends when the block does

    with client.room("lobby").join("user-42") as p:
        read()  # presence runs in the background; the participant leaves when the block ends

Tracking never breaks or blocks the application: what the server cannot take now is kept and
delivered later with its own times, and a real gap starts a continuation session.

Submodules: ``calls`` (each operation as a request), ``models`` (typed results),
``admin_models`` (keys and tenants), ``errors`` (the exception tree), ``retry``, ``handles``
(sessions tied to a block), ``outbox`` and ``chain`` (what a handle has yet to send, and its
sessions), ``spool`` (what it could not send, kept on disk for the next process), ``evidence``
(client times and thinning), ``presence`` and ``backlog`` (presence
reporters and their kept snapshots),
``analytics`` (results of the analytics API), ``export`` (reading the streamed CSV export),
``room_calls``, ``room_models`` and ``rooms`` (rooms, invitations, participants tied to a
block) and ``discord`` (entries from discord.py state; needs the ``discord`` extra and is not
imported here).
"""

from sessionkeeper.client.admin_models import (
    ApiKey,
    ApiKeyPage,
    NewApiKey,
    NewTenant,
    Tenant,
    TenantPage,
)
from sessionkeeper.client.analytics import (
    DailyMetrics,
    DailyRow,
    Event,
    EventBatchResult,
    EventOutcome,
    EventPage,
    LiveKind,
    LiveMetrics,
    MetricsChange,
    NewEvent,
    PeriodMetrics,
    RollupRun,
    Summary,
    TenantSettings,
    TopName,
)
from sessionkeeper.client.analytics_calls import EventFilters
from sessionkeeper.client.async_client import AsyncClient
from sessionkeeper.client.calls import Filters, SessionFilters
from sessionkeeper.client.errors import (
    Conflict,
    Forbidden,
    Gone,
    InvalidInput,
    NotFound,
    ServerUnavailable,
    SessionkeeperError,
    Unauthorized,
    UnexpectedResponse,
)
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle, SessionOptions
from sessionkeeper.client.models import (
    BatchItem,
    BatchResult,
    HeartbeatResult,
    Outcome,
    Page,
    Session,
)
from sessionkeeper.client.operation_models import (
    AuditEntry,
    AuditPage,
    Health,
    JobInfo,
    KindHealth,
    Policies,
    Policy,
    QualityGroup,
    QualityReport,
    QualityWorst,
    ReasonTotals,
    SweepInfo,
    SweepResult,
)
from sessionkeeper.client.presence import AsyncPresenceReporter, PresenceReporter
from sessionkeeper.client.presence_models import (
    EntryRef,
    PresenceEntry,
    PresenceLeave,
    PresenceResult,
    PresenceSummary,
    SessionRef,
)
from sessionkeeper.client.protocol import EndReason, Status
from sessionkeeper.client.room_calls import RoomFilters
from sessionkeeper.client.room_models import (
    CleanupResult,
    CleanupRun,
    CleanupStatus,
    Invite,
    InviteStatus,
    Participant,
    Room,
    RoomPage,
    Segment,
)
from sessionkeeper.client.rooms import (
    AsyncParticipantHandle,
    AsyncRoomRef,
    ParticipantHandle,
    RoomRef,
)
from sessionkeeper.client.stats_models import SessionStats, StatsGroup
from sessionkeeper.client.sync_client import Client
from sessionkeeper.client.webhook_models import (
    Delivery,
    DeliveryPage,
    Webhook,
    WebhookCreated,
    WebhookSecret,
)

__all__ = [
    "ApiKey",
    "ApiKeyPage",
    "AsyncClient",
    "AsyncParticipantHandle",
    "AsyncPresenceReporter",
    "AsyncRoomRef",
    "AsyncSessionHandle",
    "AuditEntry",
    "AuditPage",
    "BatchItem",
    "BatchResult",
    "CleanupResult",
    "CleanupRun",
    "CleanupStatus",
    "Client",
    "Conflict",
    "DailyMetrics",
    "DailyRow",
    "Delivery",
    "DeliveryPage",
    "EndReason",
    "EntryRef",
    "Event",
    "EventBatchResult",
    "EventFilters",
    "EventOutcome",
    "EventPage",
    "Filters",
    "Forbidden",
    "Gone",
    "Health",
    "HeartbeatResult",
    "InvalidInput",
    "Invite",
    "InviteStatus",
    "JobInfo",
    "KindHealth",
    "LiveKind",
    "LiveMetrics",
    "MetricsChange",
    "NewApiKey",
    "NewEvent",
    "NewTenant",
    "NotFound",
    "Outcome",
    "Page",
    "Participant",
    "ParticipantHandle",
    "PeriodMetrics",
    "Policies",
    "Policy",
    "PresenceEntry",
    "PresenceLeave",
    "PresenceReporter",
    "PresenceResult",
    "PresenceSummary",
    "QualityGroup",
    "QualityReport",
    "QualityWorst",
    "ReasonTotals",
    "RollupRun",
    "Room",
    "RoomFilters",
    "RoomPage",
    "RoomRef",
    "Segment",
    "ServerUnavailable",
    "Session",
    "SessionFilters",
    "SessionHandle",
    "SessionOptions",
    "SessionRef",
    "SessionStats",
    "SessionkeeperError",
    "StatsGroup",
    "Status",
    "Summary",
    "SweepInfo",
    "SweepResult",
    "Tenant",
    "TenantPage",
    "TenantSettings",
    "TopName",
    "Unauthorized",
    "UnexpectedResponse",
    "Webhook",
    "WebhookCreated",
    "WebhookSecret",
]
