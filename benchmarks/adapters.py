"""Per-target wire adapters: how a generator client subscribes and how the publisher publishes.

Four targets share one generator:

* ``tidings``: Pusher protocol v7 (``pusher:subscribe``, signed private channels) and the signed
  Pusher HTTP API ``POST /apps/{id}/events`` (and ``/batch_events``); client events on
  ``private-*`` channels.
* ``soketi``: the same wire as tidings. Soketi answers an API error with HTTP 200 and
  ``{"error": ..., "code": 401}`` in the body, so the body is checked too; it closes the
  connection after every API reply (the HTTP client opens a new one per request).
* ``ws``: the Node ``ws`` baseline (``{"subscribe": CH}`` and ``POST /publish?channel=CH``).
* ``nchan``: nginx + nchan (channels in the WebSocket path, ``POST /pub/CH``).
"""

from __future__ import annotations

import time
from urllib.parse import quote

import aiohttp
import orjson

from benchmarks.wire import Sink, WsClient
from tidings.protocol.signing import body_md5, channel_auth, sign_request

__all__ = [
    "Adapter",
    "NchanAdapter",
    "SoketiAdapter",
    "TidingsAdapter",
    "WsAdapter",
    "make_adapter",
]

APP_ID, APP_KEY, APP_SECRET = "1", "app-key", "app-secret"
_TEXT = {"Content-Type": "text/plain"}  # nchan relays other content types as binary frames


class Adapter:
    """Base adapter. Subclasses set :attr:`name` and override the wire-specific methods."""

    name = "base"
    client_events = False  # can a WebSocket client publish to other subscribers?

    def __init__(self, sink: Sink) -> None:
        self.sink = sink

    def ws_path(self, channels: list[str]) -> str:
        """The request target a subscriber of ``channels`` connects to."""
        raise NotImplementedError

    def on_open(self, client: WsClient) -> None:
        """Called once the handshake completed."""
        raise NotImplementedError

    def on_text(self, client: WsClient, frame: bytes) -> None:
        """Called with each non-benchmark text frame during the subscribe phase."""

    async def publish(
        self, http: aiohttp.ClientSession, base: str, channel: str, body: str
    ) -> None:
        """Publish ``body`` to ``channel`` through the target's HTTP API; raise on failure."""
        raise NotImplementedError

    def client_event(self, client: WsClient, channel: str, body: str) -> None:
        """Publish ``body`` from subscribed WebSocket ``client`` (if :attr:`client_events`)."""
        raise NotImplementedError(f"{self.name} has no client events")

    def _ready(self, client: WsClient) -> None:
        if not client.subscribed.done():
            client.subscribed.set_result(None)
        self.sink.ready += 1
        self.sink.progress.set()


async def _check(response: aiohttp.ClientResponse) -> None:
    if response.status >= 300:
        text = await response.text()
        raise RuntimeError(f"publish answered {response.status}: {text[:200]}")
    await response.read()


class TidingsAdapter(Adapter):
    """Pusher protocol v7 subscriber + signed HTTP API publisher for the default app."""

    name = "tidings"
    client_events = True

    def ws_path(self, channels: list[str]) -> str:
        return f"/app/{APP_KEY}?protocol=7&client=tidings-bench&version=1"

    def on_open(self, client: WsClient) -> None:
        client.pending = len(client.channels)

    def on_text(self, client: WsClient, frame: bytes) -> None:
        message = orjson.loads(frame)
        event = message.get("event")
        if event == "pusher:connection_established":
            client.socket_id = orjson.loads(message["data"])["socket_id"]
            for channel in client.channels:
                data: dict[str, str] = {"channel": channel}
                if channel.startswith("private-"):
                    data["auth"] = channel_auth(APP_KEY, APP_SECRET, client.socket_id, channel)
                client.send_text(orjson.dumps({"event": "pusher:subscribe", "data": data}))
            if not client.channels:
                self._ready(client)
        elif event == "pusher_internal:subscription_succeeded":
            client.pending -= 1
            if client.pending == 0:
                self._ready(client)
        elif event in ("pusher:error", "pusher:subscription_error"):
            self.sink.error(f"tidings: {frame[:300].decode(errors='replace')}")

    async def publish(
        self, http: aiohttp.ClientSession, base: str, channel: str, body: str
    ) -> None:
        raw = orjson.dumps({"name": "bench", "channel": channel, "data": body})
        await self._post(http, base, f"/apps/{APP_ID}/events", raw)

    async def publish_batch(
        self, http: aiohttp.ClientSession, base: str, items: list[tuple[str, str]]
    ) -> None:
        """Publish ``(channel, body)`` pairs in one signed ``POST /apps/{id}/batch_events``."""
        batch = [{"name": "bench", "channel": channel, "data": body} for channel, body in items]
        await self._post(http, base, f"/apps/{APP_ID}/batch_events", orjson.dumps({"batch": batch}))

    async def _post(self, http: aiohttp.ClientSession, base: str, path: str, raw: bytes) -> None:
        # Signed as the Pusher server SDKs sign (auth_* query parameters + body_md5).
        params = {
            "auth_key": APP_KEY,
            "auth_timestamp": str(int(time.time())),
            "auth_version": "1.0",
            "body_md5": body_md5(raw),
        }
        params["auth_signature"] = sign_request(APP_SECRET, "POST", path, params)
        headers = {"Content-Type": "application/json"}
        async with http.post(base + path, params=params, data=raw, headers=headers) as response:
            await self._check(response)

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        await _check(response)

    def client_event(self, client: WsClient, channel: str, body: str) -> None:
        client.send_text(orjson.dumps({"event": "client-bench", "channel": channel, "data": body}))


class SoketiAdapter(TidingsAdapter):
    """Soketi speaks the Pusher wire; only its API error replies differ (HTTP 200 + code)."""

    name = "soketi"

    async def _check(self, response: aiohttp.ClientResponse) -> None:
        text = await response.text()
        if response.status >= 300 or '"code"' in text or '"error"' in text:
            raise RuntimeError(f"publish answered {response.status}: {text[:200]}")


class WsAdapter(Adapter):
    """The Node ``ws`` baseline's tiny JSON subscribe protocol and ``POST /publish``."""

    name = "ws"

    def ws_path(self, channels: list[str]) -> str:
        return "/"

    def on_open(self, client: WsClient) -> None:
        client.pending = len(client.channels)
        for channel in client.channels:
            client.send_text(orjson.dumps({"subscribe": channel}))
        if not client.channels:
            self._ready(client)

    def on_text(self, client: WsClient, frame: bytes) -> None:
        if frame.startswith(b'{"subscribed"'):
            client.pending -= 1
            if client.pending == 0:
                self._ready(client)
        else:
            self.sink.error(f"ws: {frame[:300].decode(errors='replace')}")

    async def publish(
        self, http: aiohttp.ClientSession, base: str, channel: str, body: str
    ) -> None:
        url = f"{base}/publish?channel={quote(channel)}"
        async with http.post(url, data=body.encode(), headers=_TEXT) as response:
            await _check(response)


class NchanAdapter(Adapter):
    """nginx + nchan: up to 4 channels multiplexed in the WebSocket path; ``POST /pub/CH``."""

    name = "nchan"

    def ws_path(self, channels: list[str]) -> str:
        if not 1 <= len(channels) <= 4:
            raise ValueError("nchan subscribers take 1 to 4 channels per connection")
        return "/sub/" + "/".join(quote(c) for c in channels)

    def on_open(self, client: WsClient) -> None:
        # nchan subscribes during the upgrade; the warm-up barrier confirms delivery.
        self._ready(client)

    def on_text(self, client: WsClient, frame: bytes) -> None:
        self.sink.error(f"nchan: unexpected frame {frame[:200]!r}")

    async def publish(
        self, http: aiohttp.ClientSession, base: str, channel: str, body: str
    ) -> None:
        url = f"{base}/pub/{quote(channel)}"
        async with http.post(url, data=body.encode(), headers=_TEXT) as response:
            await _check(response)


def make_adapter(kind: str, sink: Sink) -> Adapter:
    """The adapter for target ``kind``: tidings (and tidings-*), ws, nchan or soketi."""
    if kind.startswith("tidings"):
        return TidingsAdapter(sink)
    if kind == "soketi":
        return SoketiAdapter(sink)
    if kind == "ws":
        return WsAdapter(sink)
    if kind == "nchan":
        return NchanAdapter(sink)
    raise ValueError(f"unknown target {kind!r}: use tidings, ws, nchan or soketi")
