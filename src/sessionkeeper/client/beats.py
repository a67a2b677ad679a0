"""What a handle that beats in the background keeps, whatever it beats (a participant's
presence in a room): the latest answer, the last failure, and whether its block is ending."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

from sessionkeeper.client.errors import ServerUnavailable, SessionkeeperError

T = TypeVar("T")
log = logging.getLogger("sessionkeeper.client")


class BackgroundBeats(Generic[T]):
    """What a handle beating in the background keeps, whatever it beats: the latest answer,
    the last failure, and whether its block is ending (answers after that are ignored)."""

    def __init__(self) -> None:
        self.last_error: Exception | None = None
        self._latest: T | None = None
        self._leaving = False
        self._lock = threading.Lock()

    def _answered(self, latest: T) -> None:
        with self._lock:
            if not self._leaving:
                self._latest = latest

    def _goes_on_after(self, error: Exception, what: str) -> bool:
        """Record a failed beat the server gave no instruction with; returns whether beating
        should go on (a later beat may pass when the server was merely away)."""
        with self._lock:
            if self._leaving:
                return False
            self.last_error = error
        if isinstance(error, SessionkeeperError) and not isinstance(error, ServerUnavailable):
            # Not found, unauthorized, forbidden: every further beat would get the same.
            log.error("beats for %s stop: %s", what, error)
            return False
        log.warning("beat for %s failed, trying again later: %r", what, error)
        return True

    def _leave(self) -> None:
        with self._lock:
            self._leaving = True

    @contextlib.contextmanager
    def _goodbye(self, raised: BaseException | None, what: str) -> Iterator[None]:
        """Around the last call on leaving the block (an end, a leave): its failure is
        raised, unless the block raised already; that is the error to see, this one is logged."""
        try:
            yield
        except Exception:
            if raised is None:
                raise
            log.exception("could not close %s", what)
