"""The ``Wire`` seam: what the WebSocket shell needs to know of a protocol.

The shell (``tidings.web.websocket``) is the same for every protocol: it admits
the app, asks the wire for a session, feeds it, runs its commands on the node
and writes what it queues. Everything protocol-specific is here, sans I/O: the
wire sees the upgrade request as a :class:`Handshake` value, never a socket.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from tidings.apps.base import App
from tidings.domain.messages import Message
from tidings.protocol.session import WireSession

__all__ = ["Encoder", "Handshake", "Wire"]

Encoder = Callable[[Message], bytes | None]
"""One complete WebSocket frame for ``message``, or ``None`` when it is not shown."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The parts of a WebSocket upgrade request a wire reads.

    Attributes:
        params: the route's path parameters (``{"key": ...}``).
        query: the query string parameters (the first value of a repeated one).
        headers: the request headers, by lowercase name (``headers.get("jwt")``);
            a repeated header's values joined with ``", "``.
        now: Unix time, for token expiry.
    """

    params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    now: float


class Wire(Protocol):
    """A wire protocol plug-in.

    Attributes:
        name: the protocol's name (``pusher``), in logs, events and metrics.
        path: the route template of its WebSocket endpoint (``/app/{key}``: a
            ``{name}`` is one path segment, percent-decoded into ``Handshake.params``).
        key_name: what the protocol calls the app key, for error messages.
        key_hint: how a client passes the right key, for error messages.
        encoders: encoding name -> encoder, for every encoding its sessions use.
    """

    name: str
    path: str
    key_name: str
    key_hint: str
    encoders: Mapping[str, Encoder]

    def app_key(self, handshake: Handshake) -> str:
        """The app key the client presented (empty when none).

        Raises:
            ConnectionRejected: the request is unusable before any app lookup
                (Pusher: an unsupported protocol version).
        """

    def open_session(
        self, handshake: Handshake, app: App, socket_id: str, activity_timeout: int
    ) -> WireSession:
        """A new session for an admitted app.

        Raises:
            ConnectionRejected: the request is refused (bad channel, bad token).
        """

    def encoding(self, session: WireSession) -> str:
        """Which of ``encoders`` this session's connection receives."""

    def app_changed(self, session: WireSession, app: App) -> None:
        """``app`` changed (same id) while ``session`` is open: apply what is safe."""

    def error_text(self, code: int, reason: str) -> str | None:
        """The protocol's last message before a close frame, or ``None``."""

    def ping_frame(self, session: WireSession) -> bytes:
        """The frame that asks a silent client to prove it is alive."""
