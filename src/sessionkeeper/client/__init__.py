"""The Python client of sessionkeeper.

    from sessionkeeper.client import Client

    with Client("http://127.0.0.1:8000", "sk_...") as client:
        with client.session(user_id="42", kind="game", label="Minecraft") as s:
            play()  # heartbeats run in the background; the session ends when the block does

Tracking never breaks or blocks the application: what the server cannot take now is kept and
delivered later with its own times, and a real gap starts a continuation session.

Submodules: ``calls`` (each operation as a request), ``models`` (typed results), ``errors``
(the exception tree), ``retry``, ``handles`` (sessions tied to a block), ``outbox`` and
``chain`` (what a handle has yet to send, and its sessions), ``evidence`` (client times and
thinning), ``presence`` and ``backlog`` (presence reporters and their kept snapshots) and
``discord`` (entries from discord.py state; needs the ``discord`` extra and is not imported
here).
"""

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
from sessionkeeper.client.handles import AsyncSessionHandle, SessionHandle, SessionOptions
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
    Session,
    SessionRef,
    SweepInfo,
    SweepResult,
)
from sessionkeeper.client.presence import AsyncPresenceReporter, PresenceReporter
from sessionkeeper.client.protocol import EndReason, Status
from sessionkeeper.client.sync_client import Client

__all__ = [
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
    "NotFound",
    "Page",
    "Policies",
    "Policy",
    "PresenceEntry",
    "PresenceLeave",
    "PresenceReporter",
    "PresenceResult",
    "ServerUnavailable",
    "Session",
    "SessionFilters",
    "SessionHandle",
    "SessionOptions",
    "SessionRef",
    "SessionkeeperError",
    "Status",
    "SweepInfo",
    "SweepResult",
    "Unauthorized",
    "UnexpectedResponse",
]
