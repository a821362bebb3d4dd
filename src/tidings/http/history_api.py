"""``GET /apps/{app_id}/channels/{channel}/history``: what a channel's history keeps.

Framework-free: :func:`channel_history` takes the verified app, the channel and
the query parameters and returns the status and the JSON body; the router of
the main port calls it after the request signature verified (a read: it spends
``max_read_requests_per_second``). Bad parameters raise ``TidingsError`` (400,
with a hint), rendered by the router like every other API error.

Reply: ``{"stream_id", "serial", "events": [{"serial", "event", "data",
"published_at_ms"}], "complete"}``: the channel's current position, the kept
events after ``after_serial`` (oldest first, at most ``limit``), and whether
nothing between ``after_serial`` and the first event returned was dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Protocol

import orjson

from tidings.apps.base import App
from tidings.domain.channels import name_problem
from tidings.domain.history import MAX_HISTORY_LIMIT, HistoryPage
from tidings.errors import NotFoundError, TidingsError
from tidings.typing import AppId, ChannelName

__all__ = ["DEFAULT_LIMIT", "HistoryReader", "channel_history", "event_view"]

#: Events one request returns unless it asks for another ``limit``.
DEFAULT_LIMIT: Final = 100


class HistoryReader(Protocol):
    """What the endpoint needs of the node: ``Broker.history``."""

    async def history(
        self, app_id: AppId, channel: ChannelName, after_serial: int, limit: int
    ) -> HistoryPage: ...


def _integer(query: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise TidingsError(
            f"{name}={raw[:40]!r} is not a whole number",
            hint=f"give {name} as an integer from {low} to {high}",
        )
    value = int(raw)
    if not low <= value <= high:
        raise TidingsError(
            f"{name}={value} is out of range", hint=f"give {name} from {low} to {high}"
        )
    return value


def event_view(pub: Any) -> dict[str, Any]:
    """One kept event as the API shows it; ``data`` is the value published (a string, usually)."""
    return {
        "serial": pub.serial,
        "event": pub.event,
        "data": orjson.loads(pub.data),
        "published_at_ms": pub.published_at_ms,
    }


async def channel_history(
    reader: HistoryReader, app: App, channel: str, query: Mapping[str, str]
) -> tuple[int, dict[str, Any]]:
    """The reply to a history request of ``app`` (already verified) for ``channel``.

    Args:
        reader: where history is read (the node's broker).
        query: the request's query parameters: ``limit`` (1-1000, default 100) and
            ``after_serial`` (default 0); the signature's own parameters are ignored.

    Raises:
        TidingsError: 400 for a bad channel name or parameter.
        NotFoundError: the app keeps no history of ``channel``.
    """
    problem = name_problem(channel)
    if problem is not None:
        raise TidingsError(
            problem, hint="channel names are 1-200 characters of a-z A-Z 0-9 _ - = @ , . ;"
        )
    limit = _integer(query, "limit", DEFAULT_LIMIT, 1, MAX_HISTORY_LIMIT)
    after = _integer(query, "after_serial", 0, 0, 2**53)
    if not app.keeps_history(channel):
        raise NotFoundError(
            f"app {app.id!r} keeps no history of channel {channel!r}",
            hint="add a prefix of the channel to the app's history_channels (docs/history.md)",
        )
    page = await reader.history(app.id, ChannelName(channel), after, limit)
    return 200, {
        "stream_id": page.position.stream_id,
        "serial": page.position.serial,
        "events": [event_view(pub) for pub in page.events],
        "complete": page.complete,
    }
