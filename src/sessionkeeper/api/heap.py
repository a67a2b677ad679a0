"""Keep the garbage collector's full passes short in a serving process.

A full (generation 2) collection walks every container object the process holds, and a
started server holds well over a hundred thousand that live as long as it does: modules,
classes, the routes' pydantic validators, SQLAlchemy's compiled statements. Measured on the
steady heartbeat benchmark (PostgreSQL, 1,000 beats/s), each full pass held the event loop
for 100 to 140 ms every few seconds, and those pauses were most of the p99.

``gc.freeze()`` moves the objects alive at that moment into a permanent generation the
collector no longer walks, so a full pass walks only what was allocated afterwards.
Reference counting still frees a frozen object that loses its last reference; only a cycle
among frozen objects would stay. That is why this runs once in a serving process, and never
in the apps that tests build and throw away by the hundred.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Collect what start-up left behind, then stop walking what survived it."""
    gc.collect()
    gc.freeze()
