"""The session record as the rest of the code sees it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sessionkeeper.domain.lifecycle import EndReason, Lifecycle, Status


@dataclass(frozen=True, slots=True)
class Session:
    tenant_id: int
    id: str
    user_id: str
    kind: str
    label: str | None
    source: str | None
    attributes: Mapping[str, Any]
    status: Status
    end_reason: EndReason | None
    estimated: bool
    started_at: int
    last_seen_at: int
    expires_at: int
    ended_at: int | None
    timeout_ms: int
    grace_ms: int
    start_digest: str = field(default="", compare=False)

    @property
    def lifecycle(self) -> Lifecycle:
        return Lifecycle(
            status=self.status,
            started_at=self.started_at,
            last_seen_at=self.last_seen_at,
            expires_at=self.expires_at,
            timeout_ms=self.timeout_ms,
            grace_ms=self.grace_ms,
            ended_at=self.ended_at,
            end_reason=self.end_reason,
            estimated=self.estimated,
        )

    @property
    def duration_ms(self) -> int | None:
        return None if self.ended_at is None else self.ended_at - self.started_at


@dataclass(frozen=True, slots=True)
class NewSession:
    """A start request after validation, with the id and time settled."""

    id: str
    user_id: str
    kind: str
    label: str | None
    attributes: Mapping[str, Any]
    started_at: int
    timeout_ms: int
    grace_ms: int
    start_digest: str
    source: str | None = None


def start_digest(request: Mapping[str, Any]) -> str:
    """A stable digest of what a client sent to start a session.

    Two starts with the same id are the same start (a retry) exactly when their digests match.
    """
    canonical = json.dumps(request, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
