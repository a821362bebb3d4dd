"""``eventually``: the one bounded poll, for state that has no event to await.

Prefer awaiting an event (a frame, a log line, a webhook) with a timeout; poll only a
state that settles by itself (health after heartbeats, a process that listens). The
bound is generous: it is how long the test waits for an *outcome* on a loaded machine,
never an assertion on how fast the outcome came (that is :mod:`tests.support.timing`).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

__all__ = ["eventually"]

Predicate = Callable[[], bool] | Callable[[], Awaitable[bool]]


async def eventually(
    predicate: Predicate, timeout: float = 10.0, what: str = "", *, interval: float = 0.02
) -> float:
    """Poll ``predicate`` (plain or async) until it returns true; the seconds it took.

    Raises:
        AssertionError: still false after ``timeout`` seconds (the message names ``what``,
            or the predicate).
    """
    start = time.monotonic()
    deadline = start + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() > deadline:
            name = what or getattr(predicate, "__name__", repr(predicate))
            raise AssertionError(f"not reached within {timeout} s: {name}")
        await asyncio.sleep(interval)
