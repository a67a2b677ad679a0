"""One write transaction as the writer hands it to an op: its connection, the change events
the op records to be published once the transaction has committed, and what it asks to be
done in memory once it has (never before: a group that fails is rolled back and run again op
by op, and only the attempt that commits may leave a trace)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import ChangeEvent


@dataclass(slots=True)
class Transaction:
    conn: Connection
    events: list[ChangeEvent] = field(default_factory=list)
    committed: list[Callable[[], None]] = field(default_factory=list)

    def record(self, *events: ChangeEvent) -> None:
        self.events.extend(events)

    def after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` in the writer once this transaction has committed."""
        self.committed.append(action)
