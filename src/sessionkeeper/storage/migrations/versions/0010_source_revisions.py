"""a presence source's revision, moved by the database on every change to its open sessions

Revision ID: 0010
Revises: 0009

A server process keeps the open sessions of the sources it reconciles in memory
(``services/source_cache.py``) and trusts them only while the source's ``revision`` is the one
it stamped them with. The database moves the revision itself, by triggers, so that no write
path (an end, a sweep, an amendment, an erasure, an outage hold, a policy change, another
process) can change a source's open sessions without it. What the triggers watch is what the
cache holds: which sessions are open, their identity, and what their deadlines are made of.
``sweep_at`` alone is left out: the sweep moves it on live sessions all the time, and it
decides nothing the cache answers.

On SQLite a table rebuilt by a later migration (``batch_alter_table`` on ``sessions``) loses
its triggers: such a migration must create them again (``SQLITE_TRIGGERS`` below);
``tests/integration/test_source_revisions.py`` checks that they exist at the head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The columns a cached open session is made of (``storage/presence.py``, ``open_for_source``)
# and those its deadline is computed from (``storage/source_beats.py``).
WATCHED = "status, user_id, kind, label, started_at, last_seen_at, expires_at, timeout_ms, \
held_until, source"
OPEN_NEW = "NEW.source IS NOT NULL AND NEW.status = 'active'"
OPEN_OLD = "OLD.source IS NOT NULL AND OLD.status = 'active'"


def _bump(row: str) -> str:
    return (
        "UPDATE presence_sources SET revision = revision + 1 "
        f"WHERE tenant_id = {row}.tenant_id AND source = {row}.source;"
    )


SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER sessions_source_insert AFTER INSERT ON sessions
        FOR EACH ROW WHEN {OPEN_NEW}
        BEGIN {_bump("NEW")} END""",
    f"""CREATE TRIGGER sessions_source_update AFTER UPDATE OF {WATCHED} ON sessions
        FOR EACH ROW WHEN ({OPEN_OLD}) OR ({OPEN_NEW})
        BEGIN {_bump("OLD")} {_bump("NEW")} END""",
    f"""CREATE TRIGGER sessions_source_delete AFTER DELETE ON sessions
        FOR EACH ROW WHEN {OPEN_OLD}
        BEGIN {_bump("OLD")} END""",
]

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION sessions_source_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN {_bump("OLD")} END IF;
    IF TG_OP <> 'DELETE' THEN {_bump("NEW")} END IF;
    RETURN NULL;
END $$
"""
POSTGRESQL_TRIGGERS = [
    f"""CREATE TRIGGER sessions_source_insert AFTER INSERT ON sessions
        FOR EACH ROW WHEN ({OPEN_NEW}) EXECUTE FUNCTION sessions_source_revision()""",
    f"""CREATE TRIGGER sessions_source_update AFTER UPDATE OF {WATCHED} ON sessions
        FOR EACH ROW WHEN (({OPEN_OLD}) OR ({OPEN_NEW}))
        EXECUTE FUNCTION sessions_source_revision()""",
    f"""CREATE TRIGGER sessions_source_delete AFTER DELETE ON sessions
        FOR EACH ROW WHEN ({OPEN_OLD}) EXECUTE FUNCTION sessions_source_revision()""",
]
TRIGGER_NAMES = ["sessions_source_insert", "sessions_source_update", "sessions_source_delete"]


def upgrade() -> None:
    with op.batch_alter_table("presence_sources") as batch:
        batch.add_column(sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0"))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for statement in POSTGRESQL_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER {name} ON sessions" if postgresql else f"DROP TRIGGER {name}")
    if postgresql:
        op.execute("DROP FUNCTION sessions_source_revision()")
    with op.batch_alter_table("presence_sources") as batch:
        batch.drop_column("revision")
