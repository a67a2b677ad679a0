"""The heartbeat's answer, written without building its model, is the model's JSON byte for
byte: every field, in order, with pydantic's formatting of times, enums and numbers."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from sessionkeeper.api.heartbeat_route import HeartbeatOut, encoded
from sessionkeeper.domain.lifecycle import EndReason, Status
from sessionkeeper.domain.session import Session
from sessionkeeper.services.sessions import OLDER_BEAT, HeartbeatResult

# Milliseconds from 2001 to 2100: whole seconds and odd milliseconds alike.
MOMENTS = st.integers(min_value=978_307_200_000, max_value=4_102_444_800_000)
NAMES = st.text(min_size=1, max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)


@st.composite
def sessions(draw: st.DrawFn) -> Session:
    status = draw(st.sampled_from(list(Status)))
    started = draw(MOMENTS)
    last_seen = started + draw(st.integers(0, 10**9))
    closed = status is not Status.ACTIVE
    ended = last_seen + draw(st.integers(0, 10**6)) if closed else None
    return Session(
        tenant_id=1,
        id=draw(NAMES),
        user_id=draw(NAMES),
        kind=draw(NAMES),
        label=draw(st.none() | NAMES),
        source=draw(st.none() | NAMES),
        attributes=draw(st.dictionaries(NAMES, JSON_VALUES, max_size=4)),
        status=status,
        end_reason=draw(st.sampled_from(list(EndReason))) if closed else None,
        estimated=draw(st.booleans()),
        started_at=started,
        last_seen_at=last_seen,
        expires_at=last_seen + draw(st.integers(1, 10**7)),
        ended_at=ended,
        timeout_ms=draw(st.integers(1, 10**8)),
        grace_ms=draw(st.integers(0, 10**6)),
        continues=draw(st.none() | NAMES),
        amended_count=draw(st.integers(0, 100)),
        amended_at=draw(st.none() | MOMENTS),
        interval_ms=draw(st.integers(0, 10**6)),
        subject=draw(st.dictionaries(NAMES, NAMES, max_size=3)),
    )


@given(sessions(), st.booleans())
def test_the_answer_is_the_models_json(session: Session, applied: bool) -> None:
    result = HeartbeatResult(session, applied=applied, reason=None if applied else OLDER_BEAT)
    model = HeartbeatOut.of(session, applied=result.applied, reason=result.reason)
    assert encoded(result) == model.model_dump_json().encode()


def test_the_answer_reads_back_as_the_model() -> None:
    session = Session(
        tenant_id=1,
        id="s1",
        user_id="u",
        kind="game",
        label=None,
        source=None,
        attributes={"level": 3},
        status=Status.ENDED,
        end_reason=EndReason.TIMEOUT,
        estimated=True,
        started_at=1_764_603_600_123,
        last_seen_at=1_764_603_660_000,
        expires_at=1_764_603_720_000,
        ended_at=1_764_603_665_000,
        timeout_ms=60_000,
        grace_ms=5_000,
    )
    body = json.loads(encoded(HeartbeatResult(session, applied=True)))
    assert list(body) == list(HeartbeatOut.model_fields)
    assert body["status"] == "ended" and body["end_reason"] == "timeout"
    assert body["started_at"] == "2025-12-01T15:40:00.123000Z"
    assert body["duration_s"] == 64.877 and body["timeout_s"] == 60.0
