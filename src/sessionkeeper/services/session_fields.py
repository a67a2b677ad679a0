"""The fields features add to the kernel's session answers (``feature.SessionField``).

The kernel names no feature: it asks this list for the values of a batch of sessions (one
query per field and batch, never one per session) and for the fields an end body may carry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.storage.transaction import Transaction

if TYPE_CHECKING:
    from sessionkeeper.feature import SessionField


class SessionFields:
    def __init__(self, fields: Sequence[SessionField] = ()) -> None:
        names = [field.name for field in fields]
        if len(set(names)) != len(names):
            raise ValueError(f"two features add a session field of the same name: {names}")
        self.fields = tuple(fields)
        self.names = tuple(names)
        self._at_end = {f.name: f for f in fields if f.end_model is not None and f.on_end}

    def __bool__(self) -> bool:
        return bool(self.fields)

    def __iter__(self) -> Iterator[SessionField]:
        return iter(self.fields)

    def none(self) -> dict[str, Any]:
        """The values of a session that has none (every field null)."""
        return dict.fromkeys(self.names)

    def read(
        self, conn: Connection, principal: Principal, sessions: Sequence[Session]
    ) -> dict[str, dict[str, Any]]:
        """Every field's value for each session, by session id (null where it has none)."""
        found = {session.id: self.none() for session in sessions}
        if not found:
            return found
        ids = list(found)
        for field in self.fields:
            for session_id, value in field.read(conn, principal, ids).items():
                if session_id in found:
                    found[session_id][field.name] = value
        return found

    def accepted_at_end(self, name: str) -> SessionField | None:
        """The field an end body may carry under ``name``, if any feature accepts it."""
        return self._at_end.get(name)

    def end(
        self,
        tx: Transaction,
        principal: Principal,
        session: Session,
        given: Mapping[str, Any],
        now: int,
    ) -> dict[str, Any]:
        """In the end's transaction: store the values ``given`` with the end (a feature that
        refuses one raises, and the whole end rolls back); read the others."""
        values = self.none()
        for field in self.fields:
            if field.name in given:
                assert field.on_end is not None
                values[field.name] = field.on_end(tx, principal, session, given[field.name], now)
            else:
                values[field.name] = field.read(tx.conn, principal, [session.id]).get(session.id)
        return values
