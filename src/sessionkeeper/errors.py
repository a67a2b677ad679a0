"""The error tree of sessionkeeper. Only ``api/errors.py`` maps these to HTTP statuses.

SessionkeeperError
├── NotFound            the thing does not exist for this tenant (404)
├── Conflict            the request contradicts stored state (409), may carry the session
├── Gone                the thing existed but can no longer be used (410)
├── InvalidInput        a value is well-formed but not acceptable (422), names the field
├── Unauthorized        no or unknown credential (401)
├── Forbidden           the credential's scope does not allow this (403)
├── TooManyRequests     the caller is over its rate limit (429), says when to come back
└── StorageUnavailable  the database cannot be reached right now (503)

Every error may carry a ``code``: a stable, machine-readable name for the exact case
(``invite_expired``, ``invite_used_up``, …) that clients branch on, where the HTTP status alone
would be ambiguous. It is sent as ``code`` in the problem body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class SessionkeeperError(Exception):
    title = "Error"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code


class NotFound(SessionkeeperError):
    title = "Not found"


class Conflict(SessionkeeperError):
    title = "Conflict"

    def __init__(
        self,
        detail: str,
        *,
        session: Any | None = None,
        fields: Mapping[str, Any] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail, code=code)
        # The session the request collided with, and the features' fields of it (an
        # ``outcome``) where the answer it stands in for carries them.
        self.session = session
        self.fields: Mapping[str, Any] = fields or {}


class Gone(SessionkeeperError):
    title = "Gone"


class InvalidInput(SessionkeeperError):
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.field = field


class Unauthorized(SessionkeeperError):
    title = "Unauthorized"


class Forbidden(SessionkeeperError):
    title = "Forbidden"


class TooManyRequests(SessionkeeperError):
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after_s: float, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after_s = retry_after_s


class StorageUnavailable(SessionkeeperError):
    title = "Storage unavailable"
