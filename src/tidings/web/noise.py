"""Rate-limited log lines for garbage from the network.

Malformed HTTP, framing violations and clients hanging up mid-request are the
client's problem, not the server's: they are worth an ``info`` line so an
operator can see them, never an ERROR with a traceback, and never one line per
event (a storm of garbage must not become a storm of log lines).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

__all__ = ["NoiseLog", "network_noise"]


class NoiseLog:
    """Logs at most one ``info`` line per ``interval`` seconds; counts the rest.

    The next line that gets through carries ``suppressed``: how many were
    dropped since the last one.

    Args:
        interval: seconds between two lines.
        clock: a monotonic clock in seconds.
        level: the lines' level (``info``; ``warning`` for what an operator must fix).
    """

    __slots__ = ("_clock", "_interval", "_level", "_log", "_next_at", "_suppressed")

    def __init__(
        self,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        level: str = "info",
    ) -> None:
        self._interval = interval
        self._level = level
        self._clock = clock
        self._next_at = 0.0
        self._suppressed = 0
        self._log = structlog.get_logger("tidings.network")

    def __call__(self, event: str, **fields: Any) -> bool:
        """Log ``event`` with ``fields`` unless a line went out less than ``interval`` ago.

        Returns:
            whether the line was written.
        """
        now = self._clock()
        if now < self._next_at:
            self._suppressed += 1
            return False
        self._next_at = now + self._interval
        suppressed, self._suppressed = self._suppressed, 0
        if suppressed:
            fields["suppressed"] = suppressed
        getattr(self._log, self._level)(event, **fields)
        return True


#: The process-wide log for client garbage (one line per second at most).
network_noise = NoiseLog()
