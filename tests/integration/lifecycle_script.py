"""Random scripts of lifecycle steps, applied both to the domain's model and to the SQL, for
the property tests that check one against the other."""

from __future__ import annotations

from functools import partial

from hypothesis import strategies as st

from sessionkeeper.domain import lifecycle as lc
from sessionkeeper.domain.lifecycle import EndReason, Lifecycle
from sessionkeeper.domain.principal import Principal
from sessionkeeper.storage import heartbeats
from sessionkeeper.storage import sessions as store
from sessionkeeper.storage.database import Database
from tests.support import T0

Step = tuple[str, int, list[int]]
STEPS = ["beat", "batch", "end", "sweep", "wait"]


def scripts(*extra: str) -> st.SearchStrategy[list[Step]]:
    """Lists of (step, time offset, offsets of a batch); ``extra`` steps are the caller's."""
    return st.lists(
        st.tuples(
            st.sampled_from([*STEPS, *extra]),
            st.integers(min_value=-30_000, max_value=90_000),
            st.lists(st.integers(min_value=-70_000, max_value=70_000), min_size=1, max_size=4),
        ),
        max_size=12,
    )


def apply(
    database: Database,
    principal: Principal,
    session_id: str,
    model: Lifecycle,
    now: int,
    step: Step,
) -> tuple[Lifecycle, int]:
    """One of ``STEPS`` to the model and to the stored session; the model and ``now`` after.

    ``beat``: one beat at ``now + delta`` (late or early); ``batch``: beats buffered by a
    client, delivered together, any order; ``end``: an end at ``now + delta``; ``sweep``: the
    sweep at ``now``; ``wait``: time passes."""
    op, delta, offsets = step
    run = database.writer.run_sync
    if op == "wait":
        return model, now + abs(delta)
    if op == "batch":
        ats = [max(T0, now + offset) for offset in offsets]
        now = max(now, *ats)
        beats = [(session_id, at) for at in ats]
        run(partial(heartbeats.heartbeat_batch, principal=principal, beats=beats, now=now))
        return lc.heartbeats(model, ats, now)[0], now
    if op == "sweep":
        run(partial(store.close_overdue, principal=principal, session_ids=[session_id], now=now))
        return lc.sweep(model, now), now
    at = max(T0, now + delta)
    now = max(now, at)
    if op == "beat":
        run(
            partial(
                heartbeats.heartbeat, principal=principal, session_id=session_id, at=at, now=now
            )
        )
        return lc.heartbeat(model, at, now), now
    assert op == "end", op
    run(
        partial(
            store.end,
            principal=principal,
            session_id=session_id,
            at=at,
            reason=EndReason.CLIENT,
            now=now,
        )
    )
    return lc.end(model, at, now), now
