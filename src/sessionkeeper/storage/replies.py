"""How a request waits for the writer's answer to its op, and how the writer answers.

A request on the event loop waits on a :class:`LoopReply` (an asyncio future settled on its
loop), bounded by the loop's :class:`Deadlines`; a caller outside a loop waits on a
``concurrent.futures.Future``. The writer thread answers a whole group with
:func:`settle_all`: one hand-over per event loop, however many requests the group held.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any


class LoopReply:
    """The answer to an op submitted from the event loop: an asyncio future, settled on its
    loop. Cheaper than a ``concurrent.futures.Future`` wrapped for asyncio (no lock, no
    condition, no second future), and the writer hands a group's answers to the loop in one
    call instead of one wake-up each."""

    __slots__ = ("future", "loop", "timed_out")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.future: asyncio.Future[Any] = loop.create_future()
        self.timed_out = False

    def set_running_or_notify_cancel(self) -> bool:
        # Read from the writer thread: a request that gave up (its wait timed out) cancelled
        # the future, so its op need not run. One cancelled just after this check is run and
        # its answer dropped, as a concurrent future that is already running would be.
        return not self.future.cancelled()


Reply = Future[Any] | LoopReply


class Deadlines:
    """The waits of one event loop's requests on the writer, oldest first, under one timer.

    Every wait has the same bound, so the oldest is always the first due: one timer, set for
    the oldest unanswered wait, replaces a timer per request (``asyncio.timeout`` creates,
    arms and cancels one for each wait: about 5 µs more per wait under uvloop, a few
    hundredths of a heartbeat's time on the loop). A wait past its deadline has its future
    cancelled, so the writer skips its op if it has not started, and the request answers
    503."""

    def __init__(self, loop: asyncio.AbstractEventLoop, bound_s: float) -> None:
        self.loop = loop
        self.bound_s = bound_s
        self.waits: collections.deque[tuple[float, LoopReply]] = collections.deque()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, reply: LoopReply) -> None:
        waits = self.waits
        # Answers come back about in the order the waits began: dropping the answered ones
        # here keeps the queue as short as the writes in flight.
        while waits and waits[0][1].future.done():
            waits.popleft()
        waits.append((self.loop.time() + self.bound_s, reply))
        if self.timer is None:
            self.timer = self.loop.call_at(waits[0][0], self._expire)

    def _expire(self) -> None:
        self.timer = None
        now = self.loop.time()
        waits = self.waits
        while waits:
            deadline, reply = waits[0]
            if not reply.future.done():
                if deadline > now:
                    self.timer = self.loop.call_at(deadline, self._expire)
                    return
                reply.timed_out = True
                reply.future.cancel()
            waits.popleft()


def _deliver(answers: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    """On the loop: settle the futures that are still waiting."""
    for future, result, error in answers:
        _settle(future, result=result, error=error)


def settle_all(
    replies: Sequence[Reply], results: Sequence[Any] | None, error: BaseException | None = None
) -> None:
    """Answer each reply with its result (or all with ``error``); loop replies in one call
    per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[Any], Any, Any]]] = {}
    for index, reply in enumerate(replies):
        result = None if results is None else results[index]
        if isinstance(reply, LoopReply):
            by_loop.setdefault(reply.loop, []).append((reply.future, result, error))
        else:
            _settle(reply, result=result, error=error)
    for loop, answers in by_loop.items():
        # A closed loop raises RuntimeError: nobody waits for these answers any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_deliver, answers)


def _settle(
    future: Future[Any] | asyncio.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Settle ``future`` unless it is done already (cancelled: nobody waits for it)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
