"""What a feature package contributes to the product, declared in one value.

The session kernel (``domain``, ``storage``, ``services``, ``api``, ``jobs``) knows no feature
by name. Each feature package (``rooms``, ``links``, …) builds on the kernel and describes
itself with a :class:`Feature` in its ``__init__``; ``sessionkeeper/assembly.py`` lists the
features, and the kernel's app, job runner, writer and CLI take that list. Adding a feature is
therefore a new package plus one line in the assembly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter
    from pydantic import BaseModel
    from sqlalchemy.engine import Connection

    from sessionkeeper.domain.principal import Principal
    from sessionkeeper.domain.session import Session
    from sessionkeeper.jobs.job import Job
    from sessionkeeper.services.container import Services
    from sessionkeeper.storage.transaction import Transaction
    from sessionkeeper.storage.writer import AfterCommit, Derive, InTransaction, React

S = TypeVar("S")


@dataclass(frozen=True)
class Subscriptions:
    """A feature's change-event subscribers (see ``storage/writer.py``)."""

    in_transaction: Sequence[InTransaction] = ()
    after_commit: Sequence[AfterCommit] = ()
    # Run first, inside the transaction: further events the feature reads into the recorded
    # ones (what a session the sweep closed means to it), recorded in the same transaction.
    derive: Sequence[Derive] = ()
    # Run before those: writes that carry a kernel change on into the feature's own rows,
    # recording their own events (which the derivers and subscribers then see).
    react: Sequence[React] = ()


@dataclass(frozen=True)
class SessionField:
    """A field a feature adds to the kernel's answers about sessions, under ``name``.

    The kernel sends it on ``GET /v1/sessions/{id}``, in ``GET /v1/sessions`` items, on the
    end and on a retried start (``null`` when the session has none; a session just started has
    none yet), and as a last CSV column of ``/v1/sessions/export.csv`` (compact JSON). The OpenAPI
    document describes it with ``answer_model``. Heartbeat answers leave it out: reading it
    there would cost the hottest path a query.

    With ``end_model``, the end call's body accepts the field too: its value is validated with
    that model (a 422 names the field inside it) and handed to ``on_end`` in the end's own
    transaction, so the end and the value commit together, or, when ``on_end`` raises, neither.
    """

    name: str
    description: str
    answer_model: type[BaseModel]
    # The values (JSON-ready) of a batch of one tenant's sessions, by session id; a session
    # without a value is left out. One query per call, whatever the size of the batch.
    read: Callable[[Connection, Principal, Sequence[str]], Mapping[str, Any]]
    end_model: type[BaseModel] | None = None
    # Stores the validated value for the ended (or already closed) session; returns the value
    # to answer, JSON-ready. ``int`` is the server time in epoch milliseconds.
    on_end: Callable[[Transaction, Principal, Session, Any, int], Any] | None = None


def _no_jobs(_service: Any) -> Sequence[Job]:
    return ()


def _no_subscriptions(_service: Any) -> Subscriptions:
    return Subscriptions()


@dataclass(frozen=True)
class Feature(Generic[S]):
    name: str
    # Builds the feature's service from the kernel's, once per process.
    build: Callable[[Services], S]
    routers: Sequence[APIRouter] = ()
    # Routers of the routes clients call at a rate (beats, events, clicks): matched before
    # every other route (see ``api/app.py``, ``routers_in_matching_order``).
    ingest_routers: Sequence[APIRouter] = ()
    jobs: Callable[[S], Sequence[Job]] = field(default=_no_jobs)
    subscriptions: Callable[[S], Subscriptions] = field(default=_no_subscriptions)
    # Command groups added to the ``sessionkeeper`` CLI, as (name, typer app).
    commands: Sequence[tuple[str, typer.Typer]] = ()
    # Fields added to the kernel's session answers (and end body), see ``SessionField``.
    session_fields: Sequence[SessionField] = ()
    # The ``source`` the feature gives the sessions it starts. A presence source owns the open
    # sessions of its name, so it may not take one of these (422).
    session_sources: Sequence[str] = ()
    # Attributes of those sessions that only the feature writes (the browser tracker's
    # counters): a heartbeat's attributes naming one of them are refused (422).
    owned_attributes: Mapping[str, Sequence[str]] = field(default_factory=dict)
