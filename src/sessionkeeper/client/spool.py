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
  later attempt, and is removed (with its lock file) once nothing is left to deliver or the
  server refused the session. It is also written when leaving the block gives up waiting
  (``drain_wait``), when the client is closed with evidence undelivered, and when the server
  refuses the key (401, 403): a key is fixed, the evidence stays. A crash can cost only what
  was recorded since the last write: at most about one heartbeat interval.
- Each file is written whole to a temporary name and renamed over the old one, so a crash
  mid-write leaves the previous version, never a torn one. No fsync: a process crash keeps
  what the kernel was given; a power loss may lose the last seconds. A file that cannot be
  read or restored is renamed ``.unreadable``, never deleted.
- A handle holds an OS lock on its file's lock file (``.lock``) while it may write it; the
  lock dies with the process. Delivery takes only files whose lock it can take, so processes
  sharing a directory never deliver a live session's file, nor one file twice; a handle whose
  lock file was removed under it (the directory was) takes a new one before writing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from filelock import FileLock, Timeout

log = logging.getLogger("sessionkeeper.client")

FORMAT = 1
T = TypeVar("T")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _stem(session_id: str) -> str:
    """A file name for a session id: the id itself when it is safe as one."""
    if _SAFE_NAME.match(session_id):
        return session_id
    return hashlib.sha256(session_id.encode()).hexdigest()


class SpoolFile:
    """The file of one handle (named by its first session's id), its lock, and the rules of
    writing it. Every method is safe to call from the handle's sender and from the caller's
    thread at once, and none raises for the file system: tracking must not break the app."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock_path = path.with_suffix(".lock")
        self._temporary = path.with_suffix(".tmp")
        self._lock = FileLock(self._lock_path, thread_local=False, blocking=False)
        self._identity: tuple[int, int] | None = None  # the lock file this lock is on
        self._guard = threading.RLock()

    @property
    def held(self) -> bool:
        """Whether this process holds the lock, on the lock file that is at its path now (a
        lock on a file since removed, as when the directory was, protects nothing)."""
        if not self._lock.is_locked:
            return False
        try:
            now = os.stat(self._lock_path)
        except OSError:
            return False
        return (now.st_dev, now.st_ino) == self._identity

    def claim(self) -> bool:
        """Take the lock; False while another live handle or delivery holds it."""
        with self._guard:
            if self.held:
                return True
            self.release()
            try:
                self._lock.acquire()
                taken = os.stat(self._lock_path)
            except Timeout:
                return False
            except OSError as exc:
                log.error("cannot lock spool file %s: %s", self.path, exc)
                self.release()
                return False
            self._identity = (taken.st_dev, taken.st_ino)
            return True

    def sync(self, kept: Callable[[], dict[str, Any] | None]) -> None:
        """Make the file hold what ``kept()`` returns now, or remove it when that is None."""
        with self._guard:
            state = kept()
            if state is None:
                self.remove()
                return
            if not self.claim():
                log.error("spool file %s is held by another process; not written", self.path)
                return
            try:
                text = json.dumps({"format": FORMAT, **state})
            except (TypeError, ValueError) as exc:  # attributes JSON cannot carry
                log.error("session %s cannot be kept in the spool: %s", self.path.stem, exc)
                return
            try:
                self._temporary.write_text(text, encoding="utf-8")
                os.replace(self._temporary, self.path)
            except OSError as exc:
                log.error("could not write spool file %s: %s", self.path, exc)

    def read(self) -> dict[str, Any] | None:
        """The state kept, or None when there is none or it cannot be read (then the file is
        set aside)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.error("cannot read spool file %s: %s", self.path, exc)
            return None
        try:
            # Not UTF-8 is a UnicodeDecodeError, a ValueError: set aside like bad JSON.
            state = json.loads(raw.decode("utf-8"))
            if not isinstance(state, dict) or state.get("format") != FORMAT:
                raise ValueError(f"not a spool file of format {FORMAT}")
        except ValueError as exc:
            self.set_aside(str(exc))
            return None
        return state

    def set_aside(self, reason: str) -> None:
        """Keep a file that cannot be delivered as ``.unreadable`` for a person to look at;
        never delete evidence."""
        log.error("spool file %s cannot be delivered (%s); set aside", self.path, reason)
        with self._guard:
            try:
                os.replace(self.path, self.path.with_suffix(".unreadable"))
            except OSError as exc:
                log.error("could not set spool file %s aside: %s", self.path, exc)
            self.remove()

    def remove(self) -> None:
        """Nothing is left to deliver: remove the file, then its lock file, then let the lock
        go. Only a holder removes; one that never wrote has nothing to remove."""
        with self._guard:
            if self.held:
                for path in (self.path, self._temporary, self._lock_path):
                    try:
                        path.unlink(missing_ok=True)
                    except OSError as exc:
                        log.error("could not remove spool file %s: %s", path, exc)
            self.release()

    def release(self) -> None:
        with self._guard:
            if self._lock.is_locked:
                self._lock.release()
            self._identity = None


class Spool:
    """A directory of spool files, one per handle that had something it could not deliver."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def file(self, session_id: str) -> SpoolFile:
        return SpoolFile(self.directory / f"{_stem(session_id)}.json")

    def orphans(self, restore: Callable[[dict[str, Any]], T]) -> Iterator[tuple[SpoolFile, T]]:
        """Files no live handle holds, each claimed (its lock taken) as it is yielded, with
        what ``restore`` makes of its state; a file ``restore`` refuses (ValueError) is set
        aside. Lock files left without a file by a crash are removed on the way. The caller
        removes or releases each file yielded."""
        stems = {p.stem for p in self.directory.glob("*.json")}
        stems |= {p.stem for p in self.directory.glob("*.lock")}
        for stem in sorted(stems):
            file = SpoolFile(self.directory / f"{stem}.json")
            if not file.claim():
                continue
            state = file.read()
            if state is None:
                file.remove()
                continue
            try:
                restored = restore(state)
            except ValueError as exc:
                file.set_aside(str(exc))
                continue
            yield file, restored
