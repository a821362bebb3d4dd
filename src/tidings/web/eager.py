"""Run a coroutine at once, and make it a task only if it has to wait.

What a client sends is handled in ``data_received``: a subscribe, a client
event, a publish over HTTP. Most of those never wait (the in-memory broker, the
app catalogue, the hub answer at once), and a task per message would cost more
than the message. ``start_eagerly`` steps the coroutine right away, as Python
3.12's ``asyncio.eager_task_factory`` does; only a coroutine that suspends
becomes a task, which resumes it where it stopped.

Why this touches asyncio's ``_asyncio_future_blocking`` mark, and why that is
the lesser evil (issue 25):

- The mark is the Future duck-typing protocol, not an implementation detail of
  one class: ``asyncio.isfuture`` is documented to recognise futures by it, and
  every third-party future (and loop: uvloop) implements it. ``Future.__await__``
  sets it before yielding the future; the task that receives the future clears
  it. It has worked this way since Python 3.5.
- Stepping a coroutine outside a task leaves the mark set with no task to clear
  it, and a second coroutine stepped eagerly on the same pending future (several
  subscribers of a channel whose broker subscribe is in flight) then fails with
  "await wasn't used with future". Any eager start must clear it: even a task
  that waits on a private future of its own (tried: one future and one loop
  iteration more per wait) still needs the mark cleared for that second awaiter.
- The alternatives cost more: a task per message costs about 3.5 us against
  0.5 us per coroutine that never waits (this machine, Python 3.11), an eighth
  of the ~25 us of Python an HTTP publish costs (docs/benchmarks.md); 3.12's
  ``eager_task_factory`` is not in 3.11, our floor, and builds a task even for
  a coroutine that finishes at once.

``tests/unit/test_eager.py`` pins the three behaviours relied on (the mark is set
by an await, a second awaiter fails while it is set, a task refuses a future
yielded without it) on asyncio's loop and on uvloop, so a Python release that
changes them fails the tests instead of the server. On Python 3.12+ the module
could move to ``asyncio.eager_task_factory`` for the waiting path.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, TypeVar

__all__ = ["start_eagerly"]

T = TypeVar("T")


class _Resumed:
    """Awaitable that goes on with a coroutine already stepped once.

    ``waiting`` is what the coroutine's first step yielded (the future it
    waits for, or ``None`` for a bare yield); the task that awaits this waits
    for it, then steps the coroutine on, passing in what it is sent or thrown.
    """

    __slots__ = ("_coro", "_waiting")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
        self._coro = coro
        self._waiting = waiting

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting = self._coro, self._waiting
        self._waiting = None
        # start_eagerly cleared the future's "a task waits for me" flag; set it
        # again, as Future.__await__ did, so the task takes the future.
        if getattr(waiting, "_asyncio_future_blocking", None) is False:
            waiting._asyncio_future_blocking = True
        while True:
            try:
                sent = yield waiting
            except BaseException as exc:  # cancellation included: hand it on
                try:
                    waiting = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
            else:
                try:
                    waiting = coro.send(sent)
                except StopIteration as stop:
                    return stop.value


async def _finish(resumed: _Resumed) -> Any:
    return await resumed


def start_eagerly(coro: Coroutine[Any, Any, T]) -> asyncio.Task[T] | None:
    """Run ``coro`` until it finishes or first waits.

    Returns:
        ``None`` when it finished (its result is dropped), else the task that
        runs the rest of it.

    Raises:
        Whatever ``coro`` raised before it first waited.
    """
    try:
        waiting = coro.send(None)
    except StopIteration:
        return None
    # Future.__await__ marked the future as taken by a task. No task has it yet,
    # and another coroutine stepped eagerly before any task runs may await the
    # same future: with the mark set, that await fails ("await wasn't used with
    # future"). Clear it; _Resumed sets it again when its task takes the future.
    if getattr(waiting, "_asyncio_future_blocking", None):
        waiting._asyncio_future_blocking = False
    return asyncio.ensure_future(_finish(_Resumed(coro, waiting)))
