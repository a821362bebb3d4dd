"""Run a coroutine at once, and make it a task only if it has to wait.

What a client sends is handled in ``data_received``: a subscribe, a client
event, a publish over HTTP. Most of those never wait (the in-memory broker, the
app catalogue, the hub answer at once), and a task per message would cost more
than the message. ``start_eagerly`` steps the coroutine right away, as Python
3.12's ``asyncio.eager_task_factory`` does; only a coroutine that suspends
becomes a task, which resumes it where it stopped.
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
