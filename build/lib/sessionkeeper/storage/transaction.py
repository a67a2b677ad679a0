"""One write transaction as the writer hands it to an op: its connection, and the change
events the op records to be published once the transaction has committed."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from sessionkeeper.domain.events import ChangeEvent


@dataclass(slots=True)
class Transaction:
    conn: Connection
    events: list[ChangeEvent] = field(default_factory=list)

    def record(self, *events: ChangeEvent) -> None:
        self.events.extend(events)
