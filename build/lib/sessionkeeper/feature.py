"""What a feature package contributes to the product, declared in one value.

The session kernel (``domain``, ``storage``, ``services``, ``api``, ``jobs``) knows no feature
by name. Each feature package (``rooms``, ``links``, …) builds on the kernel and describes
itself with a :class:`Feature` in its ``__init__``; ``sessionkeeper/assembly.py`` lists the
features, and the kernel's app, job runner, writer and CLI take that list. Adding a feature is
therefore a new package plus one line in the assembly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    import typer
    from fastapi import APIRouter

    from sessionkeeper.jobs.job import Job
    from sessionkeeper.services.container import Services
    from sessionkeeper.storage.writer import AfterCommit, InTransaction

S = TypeVar("S")


@dataclass(frozen=True)
class Subscriptions:
    """A feature's change-event subscribers (see ``storage/writer.py``)."""

    in_transaction: Sequence[InTransaction] = ()
    after_commit: Sequence[AfterCommit] = ()


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
    jobs: Callable[[S], Sequence[Job]] = field(default=_no_jobs)
    subscriptions: Callable[[S], Subscriptions] = field(default=_no_subscriptions)
    # Command groups added to the ``sessionkeeper`` CLI, as (name, typer app).
    commands: Sequence[tuple[str, typer.Typer]] = ()
