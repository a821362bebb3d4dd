"""Subscription counts (Pusher's ``pusher_internal:subscription_count``), sent once changes settle.

Pusher sends the count to the subscribers of a non-presence channel when it
changes, for apps that ask (``enable_subscription_count``). Changes within
``SUBSCRIPTION_COUNT_DELAY`` seconds go out as one event, so a thousand clients
joining at once cost one broadcast, not a thousand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Final

import structlog

from tidings.apps.base import App
from tidings.domain.messages import SubscriptionCount
from tidings.errors import TidingsError
from tidings.typing import AppId, ChannelName

__all__ = ["SUBSCRIPTION_COUNT_DELAY", "CountAnnouncer"]

SUBSCRIPTION_COUNT_DELAY: Final = 0.25

_Key = tuple[AppId, ChannelName]
log = structlog.get_logger(__name__)


class CountAnnouncer:
    """Publishes a channel's subscription count a moment after it changed.

    Args:
        count: the channel's count, cluster-wide.
        publish: sends a message to every node.
    """

    def __init__(
        self,
        count: Callable[[AppId, ChannelName], Awaitable[int]],
        publish: Callable[[SubscriptionCount], Awaitable[None]],
    ) -> None:
        self._count = count
        self._publish = publish
        self._due: set[_Key] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    def changed(self, app: App, channel: ChannelName) -> None:
        """A connection joined or left ``channel`` (a non-presence channel)."""
        if not app.enable_subscription_count:
            return
        key = (app.id, channel)
        if key not in self._due:
            self._due.add(key)
            asyncio.get_running_loop().call_later(SUBSCRIPTION_COUNT_DELAY, self._start, key)

    def close(self) -> None:
        """Send nothing more; cancel what is in flight."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()

    def _start(self, key: _Key) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._send(key))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, key: _Key) -> None:
        self._due.discard(key)
        app_id, channel = key
        try:
            count = await self._count(app_id, channel)
        except TidingsError as exc:
            log.warning("subscription count unavailable", channel=channel, reason=exc.message)
            return
        if count:
            await self._publish(SubscriptionCount(app_id, channel, count))
