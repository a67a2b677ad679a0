"""Evidence a handle could not deliver, kept on disk so that it outlives the process.

A handle keeps undelivered evidence in memory (:mod:`sessionkeeper.client.outbox`); a process
that crashes or is killed takes that memory along, and with it the time its session ran while
the server could not be reached. With a spool (``Client(..., spool=directory)``) a handle also
writes what it has yet to deliver to a file of its own, and the next process that opens a
client on the same directory delivers it (:meth:`Client.deliver_spooled`): the start with its
own time, the beats with theirs, the end if one was recorded. The server counts beats made
while the session was alive even after it timed the session out (late evidence), so the time
comes back.

What is written, and when:

- Nothing while the server takes every piece of evidence as it comes: a file appears only
  after a send failed, holds everything undelivered at that moment, is rewritten after each
  later attempt, and is removed once nothing is left to deliver (or the session was refused).
  A crash can cost only what was recorded since the last write: at most about one heartbeat
  interval, as without a spool.
- Each file is written whole to a temporary name and renamed over the old one, so a crash
  mid-write leaves the previous version, never a torn one. No fsync: a process crash keeps
  what the kernel was given; a power loss may lose the last seconds.
- A handle holds an OS lock on its file's lock for as long as it may write it; the lock dies
  with the process. Delivery takes only files whose lock it can take, so two processes sharing
  a directory never deliver a session that is still alive, nor the same file twice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

log = logging.getLogger("sessionkeeper.client")

FORMAT = 1
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _stem(session_id: str) -> str:
    """A file name for a session id: the id itself when it is safe as one."""
    if _SAFE_NAME.match(session_id):
        return session_id
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass
class SpoolFile:
    """The file of one handle (named by its first session's id) and its lock."""

    path: Path

    def __post_init__(self) -> None:
        self._lock = FileLock(self.path.with_suffix(".lock"), thread_local=False, blocking=False)

    @property
    def held(self) -> bool:
        return self._lock.is_locked

    def claim(self) -> bool:
        """Take the lock; False while another live handle or delivery holds it."""
        if self._lock.is_locked:
            return True
        try:
            self._lock.acquire()
        except Timeout:
            return False
        return True

    def write(self, state: dict[str, Any]) -> None:
        """Replace the file with ``state``; never raises (tracking must not break the app)."""
        try:
            if not self.claim():
                log.error("spool file %s is held by another process; not written", self.path)
                return
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps({"format": FORMAT, **state}), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError as exc:
            log.error("could not write spool file %s: %s", self.path, exc)

    def read(self) -> dict[str, Any] | None:
        """The state kept, or None when there is none or it cannot be read (then the file is
        set aside as ``.unreadable`` for a person to look at, never deleted)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            state = json.loads(text)
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError(f"not a spool file of format {FORMAT}")
        except ValueError as exc:
            log.error("spool file %s cannot be read (%s); set aside", self.path, exc)
            os.replace(self.path, self.path.with_suffix(".unreadable"))
            return None
        return state

    def remove(self) -> None:
        """Nothing is left to deliver: remove the file, then let the lock go."""
        try:
            self.path.unlink(missing_ok=True)
        except OSError as exc:
            log.error("could not remove spool file %s: %s", self.path, exc)
        self.release()

    def release(self) -> None:
        if self._lock.is_locked:
            self._lock.release()


class Spool:
    """A directory of spool files, one per handle that had something it could not deliver."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def file(self, session_id: str) -> SpoolFile:
        return SpoolFile(self.directory / f"{_stem(session_id)}.json")

    def orphans(self) -> Iterator[tuple[SpoolFile, dict[str, Any]]]:
        """Files no live handle holds, each claimed (its lock taken) as it is yielded, with
        its state; the caller removes or releases each."""
        for path in sorted(self.directory.glob("*.json")):
            file = SpoolFile(path)
            if not file.claim():
                continue
            state = file.read()
            if state is None:
                file.release()
                continue
            yield file, state
