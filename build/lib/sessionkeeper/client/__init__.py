"""The Python client of sessionkeeper.

from sessionkeeper.client import Client

    with Client("http://127.0.0.1:8000", "sk_...") as client:
        with client.session(user_id="42", kind="game", label="Minecraft") as s:
            play()  # heartbeats run in the background; the session ends when the block does

Submodules: ``calls`` (each operation as a request), ``models`` (typed results),
``admin_models`` (keys and tenants), ``errors`` (the exception tree), ``retry``, ``handles``
(sessions tied to a block), ``presence`` (presence reporters) and ``discord`` (entries from
discord.py state; needs the ``discord`` extra and is not imported here).
"""

from sessionkeeper.client.admin_models import (
    ApiKey,
    ApiKeyPage,
    NewApiKey,
    NewTenant,
    Tenant,
    TenantPage,
)
from sessionkeeper.client.async_client import AsyncClient
from sessionkeeper.client.calls import SessionFilters
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
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle
from sessionkeeper.client.models import (
    BatchItem,
    BatchResult,
    EntryRef,
    Health,
    KindHealth,
    Page,
    Policies,
    Policy,
    PresenceEntry,
    PresenceLeave,
    PresenceResult,
    PresenceSummary,
    Session,
    SessionRef,
    SweepInfo,
    SweepResult,
)
from sessionkeeper.client.presence import AsyncPresenceReporter, PresenceReporter
from sessionkeeper.client.protocol import EndReason, Status
from sessionkeeper.client.sync_client import Client

__all__ = [
    "ApiKey",
    "ApiKeyPage",
    "AsyncClient",
    "AsyncPresenceReporter",
    "AsyncSessionHandle",
    "BatchItem",
    "BatchResult",
    "Client",
    "Conflict",
    "EndReason",
    "EntryRef",
    "Forbidden",
    "Gone",
    "Health",
    "InvalidInput",
    "KindHealth",
    "NewApiKey",
    "NewTenant",
    "NotFound",
    "Page",
    "Policies",
    "Policy",
    "PresenceEntry",
    "PresenceLeave",
    "PresenceReporter",
    "PresenceResult",
    "PresenceSummary",
    "ServerUnavailable",
    "Session",
    "SessionFilters",
    "SessionHandle",
    "SessionRef",
    "SessionkeeperError",
    "Status",
    "SweepInfo",
    "SweepResult",
    "Tenant",
    "TenantPage",
    "Unauthorized",
    "UnexpectedResponse",
]
