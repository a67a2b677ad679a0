"""What a session handle has yet to tell the server, and what each answer means.

A handle records evidence as it happens — the start, a heartbeat every interval, the end — each
dated on the client's clock, and a sender delivers it in order: the start first (with its
client-made id and the original ``started_at``, so a start that lands late still begins when the
session did), then the beats (one by one while the server answers; a backlog through the batch
endpoint, thinned as :mod:`sessionkeeper.client.evidence` explains), then the end with its own
time. This is the part the blocking and the asyncio handle share: no I/O and no waiting, one
lock, so that the ticker, the sender and the caller may use it from different threads.

How answers are read:

- A transient failure (no connection, timeout, 5xx, 429, an unreadable answer) keeps everything
  for the next attempt. The wait grows with the failures but never beyond a heartbeat interval,
  and a Retry-After is honoured.
- A beat the server answers *closed* because it came after a real gap (the session timed out
  before the beat was made: status ``timed_out``) starts a **continuation**: a new session that
  ``continues`` the previous one and starts at that beat's time; every later beat and the end
  go to it. With ``continue_after_gap=False`` the handle stops instead (``closed_by_server``),
  as handles always did.
- A beat answered *closed* because the session was closed by a fact (an end, lost presence,
  cleanup) stops the handle: ``closed_by_server``.
- A start answered 409 names the session that holds the id. It is this handle's own only when
  it is what one of the handle's attempts sent (an attempt stored, its answer lost, and a
  later one that differed); any other session with that id belongs to someone else, and the
  start is refused like any other 4xx: the handle never beats or ends it.
- Any other 4xx would repeat: the handle stops and keeps the error. Only a refused time (an
  ``at`` the server will not take) drops that piece of evidence and goes on, and refused
  attributes (over a limit of the server's) are dropped and the beat or end goes again
  without them.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any

from sessionkeeper.client import calls
from sessionkeeper.client.calls import Call
from sessionkeeper.client.chain import Cadence, Link, Outcome, StartRequest, Step, provisional
from sessionkeeper.client.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from sessionkeeper.client.evidence import Beats, as_datetime, as_ms, oldest_sendable
from sessionkeeper.client.models import BatchResult, Session
from sessionkeeper.client.operation_models import Policies
from sessionkeeper.client.protocol import BATCH_LIMIT, TIMEOUT_HEARTBEATS, Status, new_session_id
from sessionkeeper.client.retry import RetryPolicy, is_transient, wait_after

log = logging.getLogger("sessionkeeper.client")

# The heartbeat interval while neither the caller, the policies nor an earlier session of the
# same kind has told it (the server is unreachable at the start). Policies go down to 1 s, so
# beating this often cannot leave a gap longer than any timeout.
FALLBACK_INTERVAL_S = 1.0
DEFAULT_MAX_PENDING = 10_000

_BATCH_AT = re.compile(r"^heartbeats\.(\d+)\.at$")


class Outbox:
    def __init__(
        self,
        start: StartRequest,
        *,
        id: str,
        started_at: int,
        heartbeat_every: float | None,
        continue_after_gap: bool,
        max_pending: int,
        backoff: float,
        known: Cadence | None = None,
    ) -> None:
        self.start = start
        self.links = [Link(id=id, started_at=started_at)]
        self.heartbeat_every = heartbeat_every
        self.continue_after_gap = continue_after_gap
        self.max_pending = max_pending
        self.outcome = Outcome()
        self._known = known
        self._interval_s: float | None = None
        self._timeout_ms: int | None = None
        self._policies_read = heartbeat_every is not None  # only the interval needs them
        self._policies_unreadable = False
        self._first_attempt = False
        self._beats = Beats(max_pending)  # pending beats of the current link
        self._last_at = started_at
        self._attributes: dict[str, Any] | None = None  # to merge with the next beat
        self._merged: dict[str, Any] = dict(start.attributes or {})  # what the server holds
        self._describe: list[Link] = []
        self._end_at: int | None = None
        self._ending = False
        self._ended = False
        # Restored from a spool: its process is gone, so nothing new is recorded, and when
        # no end was recorded none will come (the server estimates it): done once
        # everything kept is delivered.
        self._restored = False
        self._orphaned = False
        # Refused by a key (401, 403), not the session: kept for a spool to deliver later.
        self._kept_for_key = False
        self._backoff = RetryPolicy(retries=0, backoff=backoff)
        self._lock = threading.Lock()

    # What the handle reads

    @property
    def current(self) -> Link:
        return self.links[-1]

    @property
    def interval(self) -> float:
        """The heartbeat interval in force: the caller's, the policy's, or a safe guess."""
        if self.heartbeat_every is not None:
            return self.heartbeat_every
        if self._interval_s is not None:
            return self._interval_s
        if self._known is not None:
            return self._known.interval_s
        return FALLBACK_INTERVAL_S

    @property
    def cadence(self) -> Cadence | None:
        """What the server has told of the kind's cadence, once it has told both parts."""
        if self._interval_s is None or self._timeout_ms is None:
            return None
        return Cadence(self._interval_s, self._timeout_ms / 1000)

    @property
    def ready(self) -> bool:
        """The first answers are in: the start's (or its first failure) and the policies'."""
        with self._lock:
            if self.outcome.stopped or self._first_attempt:
                return True
            return self.links[0].stored and self._policies_read

    @property
    def finished(self) -> bool:
        """Nothing will be sent any more: ended and delivered, or stopped."""
        with self._lock:
            if self._orphaned and not self._undelivered() and not self._describe:
                return True
            return self.outcome.stopped or self._ended

    @property
    def pending(self) -> int:
        """Pieces of evidence still to be delivered: the start, beats and the end."""
        with self._lock:
            return self._undelivered()

    def delivered_through(self, at: int) -> bool:
        """Whether the server holds evidence of the current session up to ``at`` (or nothing
        more will be delivered)."""
        with self._lock:
            link = self.current
            return self.outcome.stopped or (link.stored and link.seen_at >= at)

    def describe(self, link: Link) -> Session:
        """The server's latest description of ``link``, or, until the server has stored it,
        the session as the client knows it (active, last seen at its newest beat)."""
        with self._lock:
            if link.session is not None:
                return link.session
            last_seen = self._last_at if link is self.current else link.seen_at
            return provisional(link, self.start, last_seen)

    # What the handle records

    def beat(self, at: int, attributes: Mapping[str, Any] | None = None) -> int:
        """Record a heartbeat made at ``at``; returns its time (kept strictly increasing, so
        the server applies the beats in the order they were made)."""
        with self._lock:
            if self.outcome.stopped or self._ending:
                return at
            at = max(at, self._last_at + 1)
            self._keep(at)
            self._last_at = at
            self.outcome.recorded += 1
            if attributes:
                self._attributes = {**(self._attributes or {}), **attributes}
            return at

    def end(self, at: int) -> None:
        """Record the end; it is sent after every beat before it."""
        with self._lock:
            if self.outcome.stopped or self._ending:
                return
            self._ending = True
            self._end_at = max(at, self._last_at)

    # What the sender does

    def next_step(self, now: int) -> Step | None:
        """The next request to send, or None when there is nothing to send now."""
        with self._lock:
            if self.outcome.stopped:
                return None
            self._age(now)
            link = self.current
            if not link.stored:
                if link.started_at not in link.attempted:
                    link.attempted.append(link.started_at)
                return Step("start", self._start_call(link), link, (link.started_at,))
            if not self._policies_read:
                return Step("policies", calls.policies(), link)
            if len(self._beats) > 1:
                batch = self._beats.batch(BATCH_LIMIT)
                beats = calls.heartbeat_batch((link.id, as_datetime(at)) for at in batch)
                return Step("beats", beats, link, batch)
            if self._beats:
                at = self._beats.oldest()
                attributes, self._attributes = self._attributes, None
                call = calls.heartbeat(link.id, at=as_datetime(at), attributes=attributes)
                return Step("beat", call, link, (at,), attributes)
            if self._describe:
                return Step("describe", calls.get(self._describe[0].id), self._describe[0])
            if self._end_at is not None:
                end_at = self._end_at
                return Step("end", calls.end(link.id, at=as_datetime(end_at)), link, (end_at,))
            return None

    def settle(self, step: Step, outcome: Any) -> float:
        """Take in what an attempt at ``step`` brought, an answer or an exception; returns the
        seconds to wait before the next attempt."""
        if isinstance(outcome, Exception):
            return self.failed(step, outcome)
        self.answered(step, outcome)
        return 0.0

    def answered(self, step: Step, result: Any) -> None:
        """Take in the server's answer to ``step``."""
        with self._lock:
            self.outcome.failures = 0
            if step.attributes:
                self._merged.update(step.attributes)  # a continuation starts with them
            if step.kind == "start":
                self._stored(step.link, result)
            elif step.kind == "policies":
                self._read_policies(result)
            elif step.kind == "beat":
                self._beat_counted(step.link, step.ats[0], result)
            elif step.kind == "beats":
                self._batch_applied(step, result)
            elif step.kind == "describe":
                self._describe.remove(step.link)
                step.link.session = result
            else:
                step.link.session = result
                self._end_at = None
                self._ended = True

    def failed(self, step: Step, error: Exception) -> float:
        """Take in a failed attempt at ``step``; returns the seconds to wait before the next."""
        with self._lock:
            if step.attributes and _refuses_attributes(error):
                # The server will not take them (a limit of its own, e.g. more than 100
                # keys): they are dropped, and the beat or end goes again without them
                # rather than the handle stopping, its end never sent.
                self.outcome.dropped += 1
                self.outcome.last_error = error
                log.error("the server refused attributes of session %s: %s", step.link.id, error)
                return 0.0
            if step.attributes:  # they go out with the next beat instead
                self._attributes = {**step.attributes, **(self._attributes or {})}
            if step.kind == "policies":
                self._policies_read = True
                self._policies_unreadable = True  # the session's own timeout will tell
                self._learn(self.current.session)
                return 0.0
            if step.kind == "describe":
                self._describe.remove(step.link)  # only a description; the old one stays
                return 0.0
            if step.kind == "start" and step.link is self.links[0]:
                self._first_attempt = True
            if is_transient(error):
                return self._retry_wait(error)
            self.outcome.failures = 0
            if isinstance(error, Conflict) and error.session is not None:
                if step.kind == "start":
                    if self._own_start(step, error.session):
                        self._stored(step.link, error.session)
                    else:
                        self._stop(error)  # another session has the id: never touch it
                elif step.kind == "beat":
                    self._closed(step.link, step.ats[0], error.session.status, error.session)
                else:
                    self._stop(error)
                return 0.0
            if isinstance(error, InvalidInput) and self._refused_time(step, error.field):
                self.outcome.last_error = error
                return 0.0
            self._stop(error)
            return 0.0

    # What a spool keeps (see :mod:`sessionkeeper.client.spool`)

    def kept(self) -> dict[str, Any] | None:
        """Everything still to be delivered, as plain data; None when there is nothing (or
        the server refused the session: it would be refused again)."""
        with self._lock:
            if self.outcome.stopped and not self._kept_for_key:
                return None
            if not self._outstanding():
                return None
            start = self.start
            return {
                "start": {
                    "user_id": start.user_id,
                    "kind": start.kind,
                    "label": start.label,
                    "attributes": self._merged or None,
                },
                "links": [
                    {
                        "id": link.id,
                        "started_at": link.started_at,
                        "continues": link.continues,
                        "stored": link.stored,
                        "seen_at": link.seen_at,
                        "attempted": list(link.attempted),
                    }
                    for link in self.links
                ],
                "beats": list(self._beats),
                "attributes": self._attributes,
                "end_at": self._end_at,
            }

    @classmethod
    def restored(cls, kept: dict[str, Any], *, backoff: float) -> Outbox:
        """An outbox that delivers what ``kept`` holds and records nothing new; ValueError
        when ``kept`` is not what :meth:`kept` makes."""
        try:
            return cls._restore(kept, backoff)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not the state of a session handle: {exc!r}") from exc

    @classmethod
    def _restore(cls, kept: dict[str, Any], backoff: float) -> Outbox:
        start = kept["start"]
        for attributes in (start["attributes"], kept.get("attributes")):
            if attributes is not None and not isinstance(attributes, dict):
                raise ValueError("attributes are not an object")
        links = [
            Link(
                id=str(item["id"]),
                started_at=_kept_time(item["started_at"]),
                continues=item.get("continues"),
                stored=bool(item["stored"]),
            )
            for item in kept["links"]
        ]
        first = links[0]
        outbox = cls(
            StartRequest(start["user_id"], start["kind"], start.get("label"), start["attributes"]),
            id=first.id,
            started_at=first.started_at,
            heartbeat_every=None,
            continue_after_gap=True,
            max_pending=max(DEFAULT_MAX_PENDING, len(kept["beats"])),
            backoff=backoff,
        )
        for link, item in zip(links, kept["links"], strict=True):
            link.seen_at = _kept_time(item["seen_at"])
            # Absent from files written before it was kept: only the current time was sent.
            link.attempted = [_kept_time(at) for at in item.get("attempted", ())]
        outbox.links = links
        outbox._policies_read = True  # nothing new is recorded: the interval is not needed
        outbox._beats.restore([_kept_time(at) for at in kept["beats"]])
        outbox._last_at = max([links[-1].seen_at, *outbox._beats])
        outbox._attributes = kept.get("attributes")
        end_at = kept.get("end_at")
        outbox._end_at = None if end_at is None else _kept_time(end_at)
        outbox._ending = True
        outbox._restored = True
        outbox._orphaned = kept.get("end_at") is None
        return outbox

    # The rules, called with the lock held

    def _undelivered(self) -> int:
        return 0 if self.outcome.stopped else self._outstanding()

    def _outstanding(self) -> int:
        unstored = sum(not link.stored for link in self.links)
        return unstored + len(self._beats) + (self._end_at is not None)

    def _start_call(self, link: Link) -> Call[Session]:
        return calls.start(
            self.start.user_id,
            self.start.kind,
            label=self.start.label,
            attributes=self._merged or None,
            id=link.id,
            started_at=as_datetime(link.started_at),
            continues=link.continues,
        )

    def _own_start(self, step: Step, session: Session) -> bool:
        """Whether ``session``, named by a 409 to the start ``step``, is the one this start
        made. The server answers a repeat of a start it stored 200, so a 409 names this
        handle's own session only after an attempt stored unanswered and a later one that
        differed (its ``started_at`` moved, see :meth:`_age`). Anything else there — another
        user's session, an earlier session under a reused id — was started by someone else:
        it must match what this handle sent field by field, and a start time one of its
        attempts carried, or it is not ours."""
        sent: Mapping[str, Any] = step.call.json
        return (
            session.id == step.link.id
            and session.user_id == sent["user_id"]
            and session.kind == sent["kind"]
            and session.label == sent.get("label")
            and session.continues == sent.get("continues")
            and session.source is None
            and dict(session.subject) == dict(sent.get("subject") or {})
            and dict(session.attributes) == _as_sent(sent.get("attributes") or {})
            and as_ms(session.started_at) in step.link.attempted
        )

    def _stored(self, link: Link, session: Session) -> None:
        link.stored = True
        link.session = session
        self._learn(session)
        if session.status in (Status.ENDED, Status.EXPIRED):
            # Ended by someone else before this start's answer arrived: a fact.
            self.outcome.closed_by_server = True
            self._stop(None)

    def _read_policies(self, policies: Policies) -> None:
        self._policies_read = True
        policy = policies.for_kind(self.start.kind)
        if policy is not None:
            self._interval_s = policy.heartbeat_interval_s
            self._set_timeout(round(policy.timeout_s * 1000))

    def _learn(self, session: Session | None) -> None:
        """An open session tells the timeout in force (a policy may change). Its deadline
        tells it only from servers that do not say: after the service's own outage the
        deadline is held later, and a backlog thinned to that gap would break the chain."""
        if session is None or session.expires_at is None or not session.is_active:
            return
        if session.timeout_s is not None:
            timeout_ms = round(session.timeout_s * 1000)
        else:
            timeout_ms = as_ms(session.expires_at) - as_ms(session.last_seen_at)
        self._set_timeout(timeout_ms)
        if self._interval_s is None and self._policies_unreadable:
            # The policies were unreadable: beat as the default policy does per timeout.
            self._interval_s = max(1.0, timeout_ms / 1000 / TIMEOUT_HEARTBEATS)

    def _acknowledge(self, link: Link, through: int) -> None:
        """Beats up to ``through`` were counted: the chain now reaches there."""
        link.seen_at = max(link.seen_at, through)
        self._beats.forget(through)

    def _beat_counted(self, link: Link, at: int, session: Session) -> None:
        link.session = session
        self._learn(session)
        self._acknowledge(link, at)

    def _batch_applied(self, step: Step, result: BatchResult) -> None:
        for at, item in zip(step.ats, result.results, strict=True):
            if item.outcome == "ok":
                self._acknowledge(step.link, at)
            elif item.outcome == "closed":
                self._describe.append(step.link)  # its last description predates the gap
                self._closed(step.link, at, item.status, None)
                return
            else:
                self._stop(NotFound(f"session {step.link.id} no longer exists", status=404))
                return

    def _closed(self, link: Link, at: int, status: Status | None, session: Session | None) -> None:
        """The beat made at ``at`` was not counted: the session was closed before it."""
        if session is not None:
            link.session = session
        if status is not Status.TIMED_OUT:
            log.warning("session %s was closed by the server (%s)", link.id, status)
            self.outcome.closed_by_server = True
            self._stop(None)
            return
        if not self.continue_after_gap:
            log.warning("session %s timed out before a beat made after a gap", link.id)
            self.outcome.closed_by_server = True
            self._stop(None)
            return
        # A real gap: the beat opens a continuation, and what came after it goes there.
        self._beats.forget(at)
        self.links.append(Link(id=new_session_id(), started_at=at, continues=link.id))
        log.warning(
            "session %s timed out during a gap before %s; continued as %s",
            link.id,
            as_datetime(at).isoformat(),
            self.current.id,
        )

    def _refused_time(self, step: Step, name: str | None) -> bool:
        """Drop a piece of evidence whose time the server refused; False when the refusal
        was of something else."""
        if step.kind == "beat" and name == "at":
            self._beats.forget(step.ats[0])
        elif step.kind == "beats" and name is not None and (match := _BATCH_AT.match(name)):
            self._beats.remove(step.ats[int(match[1])])
        elif step.kind == "end" and name == "at":
            # Without a time it would be taken: the sweep estimates the end instead.
            self._end_at = None
            self._ended = True
        else:
            return False
        self.outcome.dropped += 1
        log.error("the server refused a time of session %s; that evidence is dropped", step.link.id)
        return True

    def _age(self, now: int) -> None:
        """Give up evidence the server would refuse as too old, rather than have it refused."""
        floor = oldest_sendable(now)
        self.outcome.dropped += self._beats.older_than(floor)
        link = self.current
        if not link.stored and link.started_at < floor:
            if self._restored and not self._beats:
                # Its process is long gone and nothing of it is recent enough to tell: a
                # session starting now would be one nobody had.
                log.warning("spooled session %s is too old to deliver; given up", link.id)
                self.outcome.dropped += 1
                self._stop(None)
                return
            # The session's beginning can no longer be told: it begins at the oldest evidence.
            link.started_at = self._beats.pop_oldest() if self._beats else now
            link.seen_at = link.started_at

    def _max_gap(self) -> int:
        """The longest gap thinning may leave: the timeout, or, while it is unknown, the
        heartbeat interval (no policy has a timeout shorter than its interval)."""
        if self._timeout_ms is not None:
            return self._timeout_ms
        if self._known is not None:
            return round(self._known.timeout_s * 1000)
        return round(self.interval * 1000)

    def _keep(self, at: int) -> None:
        if self._beats.add(at, anchor=self.current.seen_at, max_gap=self._max_gap()):
            if self._beats.capped == 1:
                log.warning("session %s: undelivered beats beyond the cap", self.current.id)
            self.outcome.dropped += 1

    def _set_timeout(self, timeout_ms: int) -> None:
        """A timeout longer than the gap the backlog was thinned to lets it thin further."""
        thinned_to = self._max_gap()
        self._timeout_ms = timeout_ms
        if timeout_ms > thinned_to and len(self._beats) > 2:
            self._beats.rethin(anchor=self.current.seen_at, max_gap=timeout_ms)

    def _retry_wait(self, error: Exception) -> float:
        self.outcome.last_error = error
        self.outcome.failures += 1
        self.outcome.failed_attempts += 1
        return wait_after(self._backoff, self.outcome.failures, error, self.interval)

    def _stop(self, error: Exception | None) -> None:
        self.outcome.stopped = True
        if error is not None:
            self.outcome.refusal = error
            self.outcome.last_error = error
            lost = len(self._beats) + (self._end_at is not None)
            log.error("session %s: delivery stops, %d unsent: %s", self.current.id, lost, error)
        if isinstance(error, Unauthorized | Forbidden):
            self._kept_for_key = True  # the key was refused, not the evidence
            return
        self._beats.clear()
        self._end_at = None


def _as_sent(attributes: Mapping[str, Any]) -> Any:
    """``attributes`` as the server got them: through JSON, where a tuple is a list."""
    return json.loads(json.dumps(attributes))


# The times a spool file may hold: epoch milliseconds of the years 1 to 9999, which the
# client can spell as dates (``9999-12-31T23:59:59.999Z`` the last).
_FIRST_MS, _LAST_MS = -62_135_596_800_000, 253_402_300_799_999


def _kept_time(value: Any) -> int:
    """A time read back from a spool file, as :meth:`Outbox.kept` writes it: an integer of
    epoch milliseconds the client can send. ValueError otherwise (the file is set aside)
    rather than a failure later, in the thread that delivers it."""
    if type(value) is not int or not _FIRST_MS <= value <= _LAST_MS:
        raise ValueError(f"{value!r} is not a time the client can send")
    return value


def _refuses_attributes(error: Exception) -> bool:
    """Whether ``error`` refused the attributes a step carried (and nothing else of it)."""
    field = error.field if isinstance(error, InvalidInput) else None
    return field is not None and (field == "attributes" or field.startswith("attributes."))
