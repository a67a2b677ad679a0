"""The watchdog cuts a socket that stopped answering at the deadline its guard was given."""

from __future__ import annotations

import socket

from sessionkeeper.storage.engine import ConnectionLimits
from sessionkeeper.storage.watchdog import Watchdog


def test_a_guard_with_its_own_deadline_is_cut_at_it_not_at_the_watchdogs() -> None:
    watchdog = Watchdog(deadline_s=600.0)  # far beyond the test's own wait below
    ours, peer = socket.socketpair()
    try:
        ours.settimeout(30.0)  # the peer never answers: only a cut ends this wait
        with watchdog.guard_socket(ours.fileno(), 0.2):
            assert ours.recv(1) == b""  # shut down under us, as a dead connection is
    finally:
        ours.close()
        peer.close()


def test_a_ping_gets_a_deadline_of_a_connect_not_of_a_statement() -> None:
    limits = ConnectionLimits(connect_timeout_s=3.0, statement_timeout_s=30.0)
    assert limits.ping_deadline_s == 3.0
    assert limits.answer_deadline_s == 33.0
    assert ConnectionLimits(connect_timeout_s=0.2).ping_deadline_s == 1.0
