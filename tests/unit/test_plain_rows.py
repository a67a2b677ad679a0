"""``plain_rows``: the driver's tuples, and the driver's errors as SQLAlchemy raises them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sessionkeeper.storage.dialect import plain_rows


@pytest.fixture
def conn() -> sa.Connection:
    engine = sa.create_engine("sqlite://")
    with engine.connect() as connection:
        connection.execute(sa.text("CREATE TABLE n (x INTEGER)"))
        connection.execute(sa.text("INSERT INTO n VALUES (1), (2), (3)"))
        yield connection
    engine.dispose()


def test_rows_come_as_plain_tuples(conn: sa.Connection) -> None:
    rows = plain_rows(conn.execute(sa.text("SELECT x, 'a' FROM n ORDER BY x")))
    assert rows == [(1, "a"), (2, "a"), (3, "a")]
    assert all(type(row) is tuple for row in rows)


def test_a_failure_on_a_later_row_is_raised_as_sqlalchemy_raises_it(conn: sa.Connection) -> None:
    # SQLite steps through rows as they are fetched: the overflow on the second row happens
    # inside the fetch, past SQLAlchemy's own translation of driver errors.
    failing = sa.text("SELECT CASE WHEN x > 1 THEN abs(-9223372036854775807 - 1) ELSE x END FROM n")
    with pytest.raises(sa.exc.DBAPIError):
        plain_rows(conn.execute(failing))
