"""The probes' client side: a Pusher protocol socket and signed HTTP API calls over aiohttp.

Every wait has a timeout, and a probe never raises for what the server answers: an
unexpected reply is a result to report, so helpers return what they saw.
"""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

from tidings.client._calls import Api
from tidings.protocol.signing import channel_auth

__all__ = ["HttpReply", "Link", "PusherSocket", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """The server and app a probe talks to.

    Args:
        url: the HTTP base URL (``http(s)://host:port[/prefix]``).
        app_id, key, secret: the app's credentials.
        tls: a client TLS context (``None``: the system's trust store).
        timeout: seconds any single reply may take.
    """

    url: str
    app_id: str
    key: str
    secret: str
    tls: ssl.SSLContext | None = None
    timeout: float = 5.0

    @property
    def ws_url(self) -> str:
        """``ws(s)://host:port[/prefix]``."""
        return "ws" + self.url.removeprefix("http")

    @property
    def host_port(self) -> tuple[str, int]:
        """The host and port of ``url`` (default ports by scheme)."""
        parts = urlsplit(self.url)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class HttpReply:
    """One HTTP answer: status, JSON body (``None`` when it is not JSON), headers, time."""

    status: int
    body: Any
    text: str
    headers: dict[str, str]
    elapsed_ms: float


@dataclass(slots=True)
class PusherSocket:
    """One Pusher protocol connection; ``established`` is its connection_established data."""

    ws: aiohttp.ClientWebSocketResponse
    timeout: float
    socket_id: str = ""
    established: dict[str, Any] = field(default_factory=dict)
    handshake_ms: float = 0.0
    #: Whether the last message's ``data`` came as a JSON-encoded string (Pusher's wire
    #: form for server events) rather than an object.
    raw_data_was_string: bool = False
    #: The code and reason of the close frame the server sent, once one was read.
    server_close_code: int | None = None
    server_close_reason: str = ""

    async def send(self, event: str, data: Any, channel: str | None = None) -> None:
        """Send one message (``data`` as given: a dict for pusher:*, a string is sent as is)."""
        message: dict[str, Any] = {"event": event, "data": data}
        if channel is not None:
            message["channel"] = channel
        await self.ws.send_str(orjson.dumps(message).decode())

    async def recv(self, timeout: float | None = None) -> dict[str, Any] | None:
        """The next message decoded (``data`` JSON-decoded when it is a JSON string), or
        ``None`` when the socket closed or nothing came within ``timeout``.

        A ``pusher:ping`` is answered on the way and not returned.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                frame = await self.ws.receive(timeout=remaining)
            except TimeoutError:
                return None
            if frame.type != aiohttp.WSMsgType.TEXT:
                if frame.type == aiohttp.WSMsgType.CLOSE and isinstance(frame.data, int):
                    self.server_close_code = frame.data
                    self.server_close_reason = str(frame.extra or "")
                return None
            try:
                message: dict[str, Any] = orjson.loads(frame.data)
            except orjson.JSONDecodeError:
                return {"event": "(not JSON)", "data": frame.data}
            data = message.get("data")
            self.raw_data_was_string = isinstance(data, str)
            if isinstance(data, str):
                try:
                    message["data"] = orjson.loads(data)
                except orjson.JSONDecodeError:
                    pass
            if message.get("event") == "pusher:ping":
                await self.send("pusher:pong", {})
                continue
            return message

    async def expect(self, *events: str, timeout: float | None = None) -> dict[str, Any] | None:
        """The first message whose event is one of ``events`` (others are dropped), or ``None``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while (remaining := deadline - time.monotonic()) > 0:
            message = await self.recv(remaining)
            if message is None:
                return None
            if message.get("event") in events:
                return message
        return None

    async def subscribe(
        self,
        channel: str,
        *,
        key: str = "",
        secret: str = "",
        channel_data: str | None = None,
        auth: str | None = None,
    ) -> dict[str, Any] | None:
        """Subscribe (signing private-/presence- channels with ``key``/``secret`` unless
        ``auth`` is given); the reply (succeeded, subscription_error or error), or ``None``."""
        data: dict[str, Any] = {"channel": channel}
        if auth is not None:
            data["auth"] = auth
        elif channel.startswith(("private-", "presence-")):
            data["auth"] = channel_auth(key, secret, self.socket_id, channel, channel_data)
        if channel_data is not None:
            data["channel_data"] = channel_data
        await self.send("pusher:subscribe", data)
        return await self.expect(
            "pusher_internal:subscription_succeeded", "pusher:subscription_error", "pusher:error"
        )

    @property
    def close_code(self) -> int | None:
        """The close code once the server closed the connection.

        It is the code of the server's close frame when one was read. aiohttp's own
        ``close_code`` is not: when the server's FIN comes with its close frame (a
        server that closes TCP right after it, as tidings does on shutdown), aiohttp's
        automatic close reply fails on the closing transport and it replaces the
        server's code with 1006. Without a close frame (the connection dropped), it is
        aiohttp's code (1006).
        """
        if self.server_close_code is not None:
            return self.server_close_code
        return self.ws.close_code


class Link:
    """An aiohttp session for one probe run: Pusher sockets and signed API calls.

    Use as ``async with Link(target) as link:``; every socket it opened is closed on exit.
    """

    def __init__(self, target: Target) -> None:
        self.target = target
        self.api = Api(target.app_id, target.key, target.secret, target.url)
        self._session: aiohttp.ClientSession | None = None
        self._sockets: list[aiohttp.ClientWebSocketResponse] = []

    async def __aenter__(self) -> Link:
        timeout = aiohttp.ClientTimeout(total=self.target.timeout)
        self._session = aiohttp.ClientSession(timeout=timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._session is not None:
            await self._session.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session (inside ``async with``)."""
        assert self._session is not None, "use Link inside `async with`"
        return self._session

    @property
    def _ssl(self) -> ssl.SSLContext | bool:
        return self.target.tls if self.target.tls is not None else True

    async def http(self, method: str, url: str, body: bytes = b"") -> HttpReply:
        """One request; raises ``aiohttp.ClientError``/``TimeoutError`` when no answer comes."""
        headers = {"Content-Type": "application/json"} if body else {}
        started = time.perf_counter()
        async with self.session.request(
            method, url, data=body or None, headers=headers, ssl=self._ssl
        ) as response:
            raw = await response.read()
        elapsed = (time.perf_counter() - started) * 1000
        text = raw.decode(errors="replace")
        try:
            parsed: Any = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            parsed = None
        return HttpReply(response.status, parsed, text, dict(response.headers), elapsed)

    async def get(self, path: str) -> HttpReply:
        """``GET`` an unsigned path of the server (``/health``, ``/ready``)."""
        return await self.http("GET", self.target.url.rstrip("/") + path)

    async def signed(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        api: Api | None = None,
    ) -> HttpReply:
        """A request signed by ``api`` (default: the target's app) to ``path``."""
        call = (api or self.api).call(method, path, lambda v: v, query=query, body=body)
        return await self.http(method, call.url, call.body)

    async def socket(self, key: str | None = None, query: str = "protocol=7") -> PusherSocket:
        """Open ``/app/{key}?{query}`` and read its first message.

        ``established`` is empty (and ``socket_id`` "") when the first message was not
        ``pusher:connection_established``; the first message is then in ``established["_first"]``.

        Raises:
            aiohttp.ClientError, TimeoutError: no WebSocket handshake.
        """
        url = f"{self.target.ws_url}/app/{key if key is not None else self.target.key}?{query}"
        started = time.perf_counter()
        ws = await self.session.ws_connect(url, ssl=self._ssl, autoping=True, max_msg_size=0)
        self._sockets.append(ws)
        sock = PusherSocket(ws, self.target.timeout)
        first = await sock.recv()
        sock.handshake_ms = (time.perf_counter() - started) * 1000
        if first is not None and first.get("event") == "pusher:connection_established":
            data = first.get("data")
            sock.established = data if isinstance(data, dict) else {}
            sock.socket_id = str(sock.established.get("socket_id", ""))
        else:
            sock.established = {"_first": first}
        return sock

    async def close(self, sock: PusherSocket) -> None:
        """Close ``sock`` now (it is closed on exit anyway)."""
        await sock.ws.close()
