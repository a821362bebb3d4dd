"""The WebSocket handshake (RFC 6455 4.2.1), sans I/O: a request in, an upgrade or a refusal out.

Every upgrade request on a wire's route comes here, whatever came before it on
the connection (a pooled keep-alive connection that served ``GET /health``
upgrades like a fresh one). A request that is not a valid opening handshake is
refused with a 400 that names the header at fault; the shell then answers it as
any other HTTP error (``{"error", "hint"}`` JSON) and closes the connection.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from tidings.protocol import rfc6455
from tidings.protocol.http_request import HttpError, Request
from tidings.wires.base import Handshake, Wire

__all__ = ["Upgrade", "websocket_upgrade"]

#: The versions aiohttp accepted (8 and 7 are drafts some old clients still send).
_VERSIONS: Final = frozenset(("13", "8", "7"))
_CLIENT_HINT: Final = "connect with a WebSocket client (pusher-js, Laravel Echo, piesocket-js)"


class Upgrade(NamedTuple):
    """A valid WebSocket upgrade request: the wire whose endpoint takes it and its answer.

    Attributes:
        accept: the ``Sec-WebSocket-Accept`` value.
        origin: the ``Origin`` header, for the app's ``allowed_origins``.
    """

    wire: Wire
    handshake: Handshake
    accept: str
    origin: str | None


def websocket_upgrade(request: Request, wire: Wire, now: float) -> Upgrade:
    """Check ``request`` is an opening handshake ``wire``'s endpoint may accept.

    The method is the router's concern (the route takes ``GET`` only).

    Args:
        now: Unix time, handed to the wire for token expiry.

    Raises:
        HttpError: 400 naming what is wrong (a 400 for a bad version also
            says ``Sec-WebSocket-Version: 13``, as RFC 6455 4.4 asks).
    """
    headers = request.headers
    upgrade = headers.get("upgrade")
    if upgrade is None or upgrade.lower() != "websocket":
        raise HttpError(
            400,
            f"{request.path} is a WebSocket endpoint and the request asks for no WebSocket "
            f"(Upgrade: {upgrade!r})",
            hint=_CLIENT_HINT,
            close=True,
        )
    if request.version != "1.1":
        raise HttpError(
            400,
            f"a WebSocket upgrade needs HTTP/1.1, not HTTP/{request.version}",
            hint="a proxy in front of tidings must forward upgrades as HTTP/1.1 "
            "(nginx: proxy_http_version 1.1)",
            close=True,
        )
    if "upgrade" not in headers.get("connection", "").lower():
        raise HttpError(
            400,
            "the Connection header of a WebSocket upgrade must include Upgrade",
            hint="a proxy in front of tidings must forward the Upgrade and Connection headers",
            close=True,
        )
    version = headers.get("sec-websocket-version")
    if version not in _VERSIONS:
        raise HttpError(
            400,
            f"unsupported WebSocket version {version!r}",
            hint="send Sec-WebSocket-Version: 13 (RFC 6455)",
            headers=(("Sec-WebSocket-Version", "13"),),
            close=True,
        )
    key = headers.get("sec-websocket-key", "")
    if not rfc6455.valid_client_key(key):
        raise HttpError(
            400,
            "invalid Sec-WebSocket-Key: it must be base64 of 16 bytes",
            hint=_CLIENT_HINT,
            close=True,
        )
    query: dict[str, str] = {}
    for name, value in request.query:
        query.setdefault(name, value)  # the first value, as a multidict's get() gave
    handshake = Handshake(request.params, query, headers, now)
    return Upgrade(wire, handshake, rfc6455.accept_key(key), headers.get("origin"))
