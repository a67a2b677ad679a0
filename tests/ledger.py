"""What a server acknowledged: an httpx transport that writes down every 2xx answer to a
write, so a test can check afterwards that nothing acknowledged was lost.

- a start answered 2xx: the session exists (``starts``);
- a heartbeat answered 2xx, or a beat of a batch answered ``ok``: the session's
  ``last_seen_at`` is at least that beat's time from then on (``beats``);
- an end answered 2xx with ``status`` ``ended``: the session ended then, for good (``ends``).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from datetime import datetime

import httpx

from sessionkeeper.client import Session


def _ms(value: str) -> int:
    return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)


class Ledger:
    def __init__(self) -> None:
        self.starts: set[str] = set()
        self.beats: dict[str, int] = {}
        self.ends: dict[str, int] = {}
        self.server_errors = 0
        self._lock = threading.Lock()

    def beat(self, session_id: str, at: int) -> None:
        self.beats[session_id] = max(at, self.beats.get(session_id, at))

    def record(self, request: httpx.Request, response: httpx.Response) -> None:
        if response.status_code >= 500:
            with self._lock:
                self.server_errors += 1
            return
        if not response.is_success or request.method != "POST":
            return
        path = request.url.path
        sent = json.loads(request.content) if request.content else {}
        answer = response.json()
        with self._lock:
            if path == "/v1/sessions":
                self.starts.add(answer["id"])
            elif path.endswith("/heartbeat"):
                self.beat(answer["id"], _ms(answer["last_seen_at"]))
            elif path == "/v1/heartbeats":
                for beat, result in zip(sent["heartbeats"], answer["results"], strict=True):
                    if result["outcome"] == "ok" and "at" in beat:
                        self.beat(beat["session_id"], _ms(beat["at"]))
            elif path.endswith("/end") and answer["status"] == "ended":
                self.ends[answer["id"]] = _ms(answer["ended_at"])


class Recording(httpx.HTTPTransport):
    """The real transport, writing every answer into ``ledger``."""

    def __init__(self, ledger: Ledger) -> None:
        super().__init__()
        self.ledger = ledger

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        response.read()
        self.ledger.record(request, response)
        return response


def lost(ledger: Ledger, stored: dict[str, dict[str, object]]) -> list[str]:
    """What the ledger says was acknowledged but ``stored`` (sessions by id, as the API
    sends them) does not have."""
    missing = [f"start of {sid}" for sid in ledger.starts if sid not in stored]
    for sid, at in ledger.beats.items():
        session = stored.get(sid)
        if session is None or _ms(str(session["last_seen_at"])) < at:
            missing.append(f"beat of {sid} at {at}")
    for sid, at in ledger.ends.items():
        session = stored.get(sid)
        if session is None or session["status"] != "ended" or session["ended_at"] is None:
            missing.append(f"end of {sid}")
        elif _ms(str(session["ended_at"])) != at:
            missing.append(f"end of {sid} at {at}")
    return missing


def as_stored(sessions: Iterable[Session]) -> dict[str, dict[str, object]]:
    """The client's sessions as :func:`lost` reads them (the API's fields it checks)."""
    return {
        s.id: {
            "last_seen_at": s.last_seen_at.isoformat(),
            "status": s.status.value,
            "ended_at": None if s.ended_at is None else s.ended_at.isoformat(),
        }
        for s in sessions
    }
