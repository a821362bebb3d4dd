"""Stopping background tasks for certain.

``task.cancel()`` asks once, and a task can absorb the request: redis-py reads under a
timeout context, and a cancellation that races that timeout comes out of the Redis
command as a ``TimeoutError`` (then a ``TidingsError``), which a retry loop catches and
goes on. Whoever then awaits the task waits forever: a shutdown hung that way. ``stop``
cancels again until every task has ended.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["stop"]

#: Seconds a cancelled task has to end before it is cancelled again.
_RECANCEL_S = 0.1


async def stop(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel ``tasks`` (``None`` and finished ones are skipped) and return once every one
    has ended; what they returned or raised is dropped.

    A task still running ``_RECANCEL_S`` after a cancellation is cancelled again, so a
    task that absorbed one cancellation cannot hold the caller.
    """
    running = {task for task in tasks if task is not None and not task.done()}
    while running:
        for task in running:
            task.cancel()
        _, running = await asyncio.wait(running, timeout=_RECANCEL_S)
    for ended in tasks:
        if ended is not None and not ended.cancelled():
            ended.exception()  # retrieved: asyncio does not log it as never retrieved
