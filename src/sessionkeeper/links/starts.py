"""Starting a session inside a transaction of this feature (a click, a tracker start), with
the kind's policy read in the same transaction, as ``SessionService.start`` does."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sessionkeeper.domain.policy import Policy, resolve_policy
from sessionkeeper.domain.principal import Principal
from sessionkeeper.domain.session import NewSession, Session, start_digest
from sessionkeeper.storage import policies as policy_store
from sessionkeeper.storage import sessions as session_store
from sessionkeeper.storage.transaction import Transaction


def new_session(
    session_id: str,
    *,
    user_id: str,
    kind: str,
    attributes: Mapping[str, Any],
    subject: Mapping[str, str] | None,
    source: str,
    started_at: int,
) -> NewSession:
    started = {
        "user_id": user_id,
        "kind": kind,
        "attributes": dict(attributes),
        "subject": dict(subject or {}),
        "source": source,
    }
    return NewSession(
        id=session_id,
        user_id=user_id,
        kind=kind,
        label=None,
        attributes=attributes,
        started_at=started_at,
        timeout_ms=0,  # from the policy, in the transaction
        grace_ms=0,
        start_digest=start_digest(started),
        source=source,
        subject=subject or None,
    )


def policy_for(tx: Transaction, principal: Principal, kind: str) -> Policy:
    return resolve_policy(policy_store.load(tx.conn, principal.tenant_id), kind)


def start(tx: Transaction, principal: Principal, new: NewSession, now: int) -> Session:
    policy = policy_for(tx, principal, new.kind)
    with_policy = replace(
        new, timeout_ms=policy.timeout_ms, grace_ms=policy.grace_ms, interval_ms=policy.interval_ms
    )
    _, session = session_store.start(tx, principal, with_policy, now)
    assert session is not None  # a fresh server-made id in the principal's tenant
    return session
