"""Outcomes on the kernel's session answers: the ``outcome`` field of ``GET /v1/sessions``,
``GET /v1/sessions/{id}``, the end (which also accepts one) and ``/v1/sessions/export.csv``.

Declared as a ``SessionField`` of the feature, so the kernel reads and stores it without
knowing outcomes: one query per page of sessions, and in the end's own transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import Session
from sessionkeeper.feature import SessionField
from sessionkeeper.learning import store
from sessionkeeper.learning.schemas import OutcomeBody, OutcomeOut
from sessionkeeper.learning.service import write_outcome
from sessionkeeper.learning.store import Outcome
from sessionkeeper.storage.transaction import Transaction


def answered(outcome: Outcome) -> dict[str, Any]:
    """The outcome as the API sends it."""
    return OutcomeOut.of(outcome).model_dump(mode="json")


def read_outcomes(
    conn: Connection, principal: Principal, session_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    found = store.outcomes_of(conn, principal, session_ids)
    return {session_id: answered(outcome) for session_id, outcome in found.items()}


def end_with_outcome(
    tx: Transaction, principal: Principal, session: Session, body: OutcomeBody, now: int
) -> dict[str, Any]:
    return answered(write_outcome(tx.conn, principal, session, body.outcome(), now))


OUTCOME_FIELD = SessionField(
    name="outcome",
    description="What the session achieved (as set by PUT /v1/sessions/{id}/outcome or "
    "with the end); null until an outcome is set",
    answer_model=OutcomeOut,
    read=read_outcomes,
    end_model=OutcomeBody,
    on_end=end_with_outcome,
)
