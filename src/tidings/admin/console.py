"""The debug console's feed: one app's lifecycle events, streamed while someone watches.

A console exists only while a browser holds its stream open (``GET
/api/apps/{id}/console``, server-sent events). Opening one adds listeners to the
node's bus (and, with webhooks, reads the app's delivery log every
``WEBHOOK_POLL_S`` to show deliveries as they change); closing it removes them,
so nothing is collected while nobody watches. Each listener turns an event of
the console's app into a small JSON record and appends it to that console's
queue, which is bounded: when the browser cannot keep up, new records are
dropped and counted, and the count goes out with the next batch (the page
shows it). Listeners never block and never
run per subscriber: one record per connection, subscription, publish, client
event or refusal.

What was sent is shown as Pusher's debug console shows it: the data of an API
publish (the string the backend sent) or of a client event (its JSON text) up
to ``MAX_DATA_BYTES`` of UTF-8,
with its full ``size`` in bytes and ``truncated`` when it was cut; a presence
member's ``info`` on ``member_added`` (bounded by the app's member info limit).
The bus events carry the publication's own data string (no copy, no encoding);
only a console's listener measures and cuts it, so none of it is done while
nobody watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Final

import orjson
from aiohttp import web

from tidings.admin.keys import STATE
from tidings.admin.webhooks_api import WEBHOOKS
from tidings.core.bus import EventBus
from tidings.domain import events
from tidings.typing import AppId
from tidings.webhooks.service import WebhookService

__all__ = [
    "CONSOLES",
    "MAX_CONSOLES",
    "MAX_DATA_BYTES",
    "MAX_PENDING",
    "Console",
    "Consoles",
    "console_stream",
    "cut_data",
]

#: Records a console holds for its browser; more are dropped (and counted).
MAX_PENDING: Final = 1000
#: Consoles open at once on one node; one more is answered 429.
MAX_CONSOLES: Final = 16
#: Event data shown, in bytes of its UTF-8 JSON text; the rest is cut (the record says
#: so and gives the full size). 1 KiB: a line or two of the table, enough to recognise a
#: payload, while a 100 KB publish does not flood the page.
MAX_DATA_BYTES: Final = 1024
#: Seconds between keep-alive comments on an idle stream.
KEEPALIVE_S: Final = 15.0
#: Seconds between checks that the browser is still there.
_CHECK_S: Final = 1.0
#: Seconds between two reads of the webhook delivery log while a console is open.
WEBHOOK_POLL_S: Final = 1.0
#: Seconds a batch waits for more records before it is sent.
BATCH_S: Final = 0.1

#: What a console shows: every event that names an app.
_WATCHED: Final = tuple(
    kind for kind in events.EVENT_TYPES.values() if "app_id" in {f.name for f in fields(kind)}
)


def cut_data(text: str) -> tuple[str, int, bool]:
    """``text`` cut to at most ``MAX_DATA_BYTES`` of UTF-8 (never inside a character).

    Returns:
        The text shown, the full size in bytes, and whether it was cut.
    """
    size = len(text) if text.isascii() else len(text.encode())
    if size <= MAX_DATA_BYTES:
        return text, size, False
    shown = text[:MAX_DATA_BYTES].encode()[:MAX_DATA_BYTES].decode(errors="ignore")
    return shown, size, True


def _record(event: events.Event) -> dict[str, Any]:
    record: dict[str, Any] = {"time_ms": int(time.time() * 1000), "type": event.name}
    for field in fields(event):
        if field.name != "app_id":
            record[field.name] = getattr(event, field.name)
    data = record.get("data")
    if isinstance(data, str):
        if isinstance(event, events.Published) and data.startswith('"'):
            # The HTTP API carries data as a JSON string: show the string the backend sent.
            with contextlib.suppress(orjson.JSONDecodeError):
                decoded = orjson.loads(data)
                data = decoded if isinstance(decoded, str) else data
        record["data"], record["size"], cut = cut_data(data)
        if cut:
            record["truncated"] = True
    return record


class Console:
    """One open console: its app's records since the last batch, bounded.

    Args:
        bus: the node's bus (listeners are added now, removed by ``close``).
        app_id: the app whose events are shown.
    """

    def __init__(self, bus: EventBus, app_id: AppId) -> None:
        self.app_id = app_id
        self.pending: deque[dict[str, Any]] = deque()
        self.dropped = 0
        self.ready = asyncio.Event()
        self._removers: list[Callable[[], None]] = [bus.on(kind, self._on) for kind in _WATCHED]

    def _on(self, event: Any) -> None:
        if event.app_id != self.app_id:
            return
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
        else:
            self.pending.append(_record(event))
        self.ready.set()

    def add(self, record: dict[str, Any]) -> None:
        """Queue a record that is not a bus event (a webhook delivery), within the bound."""
        if len(self.pending) >= MAX_PENDING:
            self.dropped += 1
        else:
            self.pending.append(record)
        self.ready.set()

    def take(self) -> dict[str, Any]:
        """The pending records and the running drop count, as one batch."""
        batch = {"events": list(self.pending), "dropped": self.dropped}
        self.pending.clear()
        self.ready.clear()
        return batch

    def close(self) -> None:
        """Remove the listeners: nothing more is collected."""
        for remove in self._removers:
            remove()
        self._removers = []


class Consoles:
    """The consoles open on this node (at most ``MAX_CONSOLES``)."""

    def __init__(self) -> None:
        self.open: set[Console] = set()
        self.closing = False

    async def close_all(self, app: web.Application) -> None:
        """The admin listener is stopping: end every stream (an ``on_shutdown`` hook)."""
        self.closing = True
        for console in self.open:
            console.ready.set()


CONSOLES: Final = web.AppKey("consoles", Consoles)


async def console_stream(request: web.Request) -> web.StreamResponse:
    """``GET /api/apps/{app_id}/console``: the app's events as server-sent events.

    Each message is ``event: batch`` with ``{"events": [...], "dropped": N}``.
    """
    node = request.app[STATE].node
    app_id = AppId(request.match_info["app_id"])
    if await node.apps.by_id(app_id) is None:
        return web.json_response(
            {"error": f"no app has the id {app_id[:40]!r}", "hint": "GET /api/status lists them"},
            status=404,
        )
    consoles = request.app[CONSOLES]
    if len(consoles.open) >= MAX_CONSOLES:
        return web.json_response(
            {"error": f"{MAX_CONSOLES} consoles are open already", "hint": "close one first"},
            status=429,
        )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no",  # nginx: do not buffer the stream
        }
    )
    await response.prepare(request)
    console = Console(node.bus, app_id)
    consoles.open.add(console)
    webhooks = request.app.get(WEBHOOKS)
    watcher = (
        asyncio.create_task(_watch_deliveries(webhooks, console)) if webhooks is not None else None
    )
    try:
        await response.write(b"retry: 2000\n\n")
        await response.write(_message(console.take()))  # the opening batch: "connected"
        idle = 0.0
        # ``closing`` is tested on every round, not only on a wake-up: the shutdown hook's
        # wake-up can land while a batch is being gathered, and that batch's take()
        # clears it (with presence members leaving at shutdown, it usually did, and the
        # admin listener then waited for this stream until its 60 s shutdown timeout).
        while not consoles.closing:
            try:
                await asyncio.wait_for(console.ready.wait(), _CHECK_S)
            except TimeoutError:
                # A browser that left is seen at once (its transport closes), so the
                # listeners go even while nothing happens in the app.
                transport = request.transport
                if transport is None or transport.is_closing():
                    break
                idle += _CHECK_S
                if idle >= KEEPALIVE_S:
                    idle = 0.0
                    await response.write(b": keep-alive\n\n")
                continue
            idle = 0.0
            if consoles.closing:
                break
            await asyncio.sleep(BATCH_S)  # gather a burst into one message
            await response.write(_message(console.take()))
    except ConnectionResetError:
        pass  # the browser went away
    finally:
        if watcher is not None:
            watcher.cancel()
        console.close()
        consoles.open.discard(console)
    return response


async def _watch_deliveries(webhooks: WebhookService, console: Console) -> None:
    """Add a ``webhook_delivery`` record whenever one of the app's recent deliveries is new
    or changed (attempts, status); the ones logged before the console opened are skipped."""
    seen: dict[str, tuple[int, str]] = {}
    first = True
    while True:
        try:
            recent = await webhooks.recent(console.app_id, 20)
        except Exception:  # the log's store is away: try again on the next round
            recent = []
        for delivery in reversed(recent):
            state = (delivery.attempts, delivery.status)
            if seen.get(delivery.id) == state:
                continue
            seen[delivery.id] = state
            if not first:
                console.add(
                    {
                        "time_ms": int(time.time() * 1000),
                        "type": "webhook_delivery",
                        "id": delivery.id,
                        "url": delivery.url,
                        "events": [e.get("name") for e in delivery.events],
                        "status": delivery.status,
                        "attempts": delivery.attempts,
                        "last_status_code": delivery.last_status_code,
                        "error": delivery.error,
                    }
                )
        first = False
        await asyncio.sleep(WEBHOOK_POLL_S)


def _message(batch: dict[str, Any]) -> bytes:
    return b"event: batch\ndata: " + orjson.dumps(batch, default=str) + b"\n\n"
