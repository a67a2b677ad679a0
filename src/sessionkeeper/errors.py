"""The error tree of sessionkeeper. Only ``api/errors.py`` maps these to HTTP statuses.

SessionkeeperError
├── NotFound            the thing does not exist for this tenant (404)
├── Conflict            the request contradicts stored state (409), may carry the session
├── InvalidInput        a value is well-formed but not acceptable (422), names the field
├── Unauthorized        no or unknown API key (401)
├── Forbidden           the key's scope does not allow this (403)
└── StorageUnavailable  the database cannot be reached right now (503)
"""

from __future__ import annotations

from typing import Any


class SessionkeeperError(Exception):
    title = "Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(SessionkeeperError):
    title = "Not found"


class Conflict(SessionkeeperError):
    title = "Conflict"

    def __init__(self, detail: str, *, session: Any | None = None) -> None:
        super().__init__(detail)
        self.session = session


class InvalidInput(SessionkeeperError):
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str) -> None:
        super().__init__(detail)
        self.field = field


class Unauthorized(SessionkeeperError):
    title = "Unauthorized"


class Forbidden(SessionkeeperError):
    title = "Forbidden"


class StorageUnavailable(SessionkeeperError):
    title = "Storage unavailable"
