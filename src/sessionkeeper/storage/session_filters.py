"""A session as the lifecycle rules say it stands at ``now``, and listing filters in SQL.

A session still marked ``active`` whose ``expires_at`` has passed is, by the rules, timed out
at its estimated end: the sweep simply has not come by yet. Reads that count or export
sessions see it that way (:func:`as_of`), built from the same named rules the sweep applies
(``overdue_at``, ``timeout_values``), so a read never contradicts the close that follows.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from sessionkeeper.domain.lifecycle import Status
from sessionkeeper.domain.listing import SessionFilter
from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage.scope import visible_to
from sessionkeeper.storage.sessions import SESSION_COLUMNS, overdue_at, timeout_values
from sessionkeeper.storage.source_beats import read_column
from sessionkeeper.storage.statuses import IS_ACTIVE, status_is
from sessionkeeper.storage.tables import sessions as t


def as_of(now: int) -> dict[str, sa.ColumnElement[Any]]:
    """The columns a close by timeout sets, as they stand at ``now``: the timeout's values
    for an overdue session, the stored ones otherwise."""
    overdue = overdue_at(now)
    return {
        name: sa.case((overdue, value), else_=read_column(name))
        for name, value in timeout_values(now).items()
    }


def columns_as_of(now: int) -> list[sa.ColumnElement[Any]]:
    """Every session column (as ``SESSION_COLUMNS``), those of :func:`as_of` replaced."""
    replaced = as_of(now)
    return [
        replaced[column.name].label(column.name) if column.name in replaced else column
        for column in SESSION_COLUMNS
    ]


def subject_value(field: str) -> sa.ColumnElement[str]:
    """The subject's ``field`` as text (NULL when absent)."""
    value: sa.ColumnElement[str] = t.c.subject[field].as_string()
    return value


def ended_between(now: int, after: int | None, before: int | None) -> sa.ColumnElement[bool]:
    """Sessions whose end, as it stands at ``now``, lies in ``[after, before)`` (either open).

    The same as comparing ``as_of(now)["ended_at"]``, spelled so the database can use its
    indexes: a closed session by its stored end (the index on ``ended_at``), an overdue one
    not yet swept by the estimate the sweep will give it (found through the sweep's index)."""

    def within(ended: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
        bounds: list[sa.ColumnElement[bool]] = [
            ended >= after if after is not None else ended.is_not(None)
        ]
        if before is not None:
            bounds.append(ended < before)
        return sa.and_(*bounds)

    estimate = timeout_values(now)["ended_at"]
    return sa.or_(within(t.c.ended_at), sa.and_(overdue_at(now), within(estimate)))


def status_at(status: Status, now: int) -> sa.ColumnElement[bool]:
    """Sessions whose status by the rules at ``now`` is ``status``: an overdue session not yet
    swept counts as timed out, not as active."""
    # Spelled out rather than compared to the CASE, so the database can use its indexes.
    if status is Status.ACTIVE:
        return sa.and_(IS_ACTIVE, sa.not_(overdue_at(now)))
    if status is Status.TIMED_OUT:
        return sa.or_(status_is(Status.TIMED_OUT), overdue_at(now))
    return status_is(status)


def conditions(
    principal: Principal, where: SessionFilter, now: int
) -> list[sa.ColumnElement[bool]]:
    """The WHERE clause of ``where`` for the principal's sessions, read at ``now``."""
    found: list[sa.ColumnElement[bool]] = [visible_to(t, principal)]
    if where.status is not None:
        found.append(status_at(where.status, now))
    for column, value in (
        (t.c.kind, where.kind),
        (t.c.user_id, where.user_id),
        (t.c.label, where.label),
        (t.c.source, where.source),
        (t.c.continues, where.continues),
    ):
        if value is not None:
            found.append(column == value)
    for field, value in where.subject:
        found.append(subject_value(field) == value)
    if where.started_after is not None:
        found.append(t.c.started_at >= where.started_after)
    if where.started_before is not None:
        found.append(t.c.started_at < where.started_before)
    ended_at = as_of(now)["ended_at"]
    if where.ended_after is not None or where.ended_before is not None:
        found.append(ended_between(now, where.ended_after, where.ended_before))
    if where.active_during is not None:
        start, end = where.active_during
        # Still going: it has been going until now.
        found.append(t.c.started_at < end)
        found.append(sa.func.coalesce(ended_at, sa.literal(now, sa.BigInteger)) > start)
    if where.min_duration_ms is not None:
        found.append(ended_at - t.c.started_at >= where.min_duration_ms)
    return found
