"""Token-bucket rate limits: per connection for client messages, per app for the HTTP API.

Pusher allows each client at most 10 client events per second; a client over
the limit gets ``pusher:error`` 4301 and the event is dropped, the connection
stays open. Without a limit, one client looping on ``trigger`` into a channel
of N members costs the server N deliveries per message, for as long as it likes.

Sans-I/O: the caller passes the clock, so tests need no sleeping.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """At most ``rate`` events per second on average, in bursts of up to ``rate``.

    Args:
        rate: events per second; ``0`` means no limit.
        clock: a monotonic clock in seconds.
    """

    __slots__ = ("_clock", "_rate", "_stamp", "_tokens")

    def __init__(self, rate: int, clock: Callable[[], float]) -> None:
        if rate < 0:
            raise ValueError(f"rate must be 0 (no limit) or more, got {rate!r}")
        self._rate = rate
        self._clock = clock
        self._tokens = float(rate)
        self._stamp = clock()

    @property
    def rate(self) -> int:
        """Events allowed per second (``0``: no limit)."""
        return self._rate

    def allow(self, cost: int = 1) -> bool:
        """Take ``cost`` events' tokens: ``True`` if they may go, ``False`` if over the limit.

        A request of several events (an HTTP publish to 100 channels) passes while a
        whole token is left and may take the balance below zero: the debt is paid
        back at ``rate`` before the next one passes, so the average still holds and a
        request larger than ``rate`` is possible at all.
        """
        rate = self._rate
        if not rate:
            return True
        now = self._clock()
        tokens = min(float(rate), self._tokens + (now - self._stamp) * rate)
        self._stamp = now
        if tokens < 1.0:
            self._tokens = tokens
            return False
        self._tokens = tokens - cost
        return True

    def retry_after(self) -> float:
        """Seconds until :meth:`allow` can pass again (``0.0`` when it can now)."""
        rate = self._rate
        if not rate:
            return 0.0
        tokens = min(float(rate), self._tokens + (self._clock() - self._stamp) * rate)
        return max(0.0, (1.0 - tokens) / rate)
