"""One POST to a receiver, and what it came to (aiohttp's client).

Whatever the receiver does (refuse the connection, answer 3xx/4xx/5xx, stall,
close early, send garbage) is an :class:`~tidings.webhooks.delivery.Attempt`
with a reason, never an exception: a receiver cannot crash the server.
Redirects are not followed (a 3xx is a failed attempt: fix the URL).
"""

from __future__ import annotations

import time

import aiohttp

from tidings.webhooks.delivery import ATTEMPT_TIMEOUT_S, Attempt

__all__ = ["Sender"]

# How much of an answer's body is read (and thrown away) before the connection is reused.
_MAX_ANSWER_BYTES = 64 * 1024


class Sender:
    """POSTs with one shared connection pool.

    Args:
        timeout: seconds one attempt may take, connect to last byte.
        max_connections: concurrent POSTs at most.
    """

    def __init__(self, timeout: float = ATTEMPT_TIMEOUT_S, max_connections: int = 64) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> Attempt:
        """POST ``body``; a 2xx answer within the timeout is success."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                headers={"User-Agent": "tidings-webhooks"},
            )
        started = time.monotonic()
        status: int | None = None
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                await response.content.read(_MAX_ANSWER_BYTES)
        except TimeoutError:
            error: str | None = f"no answer within {self._timeout.total:g} s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except (OSError, ValueError) as exc:  # e.g. a URL aiohttp cannot parse
            error = f"{type(exc).__name__}: {exc}"
        else:
            error = None if 200 <= status < 300 else _status_error(status)
        return Attempt(status, error, time.monotonic() - started)

    async def close(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None


def _status_error(status: int) -> str:
    if 300 <= status < 400:
        return f"HTTP {status}: redirects are not followed (use the final URL)"
    return f"HTTP {status}"
