"""What a wire session (Pusher or PieSocket) asks its shell to do. Don't subclass these.

The session validates and authorises; a command it emits is already allowed.
Both protocols emit the same commands, so one shell serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ClientEvent", "Close", "Command", "Refusal", "SignIn", "Subscribe", "Unsubscribe"]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Join ``channel``; on presence channels the user comes from the signed credentials.

    The shell must answer with the session's ``subscribed()`` or
    ``subscription_refused()``.

    Attributes:
        position: ``(serial, stream_id)`` the client last saw on ``channel``: replay
            what it missed (channel history), or say it cannot.
    """

    channel: str
    user_id: str | None = None
    user_info: Any = None
    position: tuple[int, str] | None = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Leave ``channel`` (already forgotten by the session); ``user_id`` on presence channels."""

    channel: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """Relay a message the client sent to the channel's subscribers.

    Attributes:
        data: the JSON text of the data value.
        user_id: the sender's presence user id, when it has one on the channel.
        meta: the JSON text of PieSocket's ``meta``; ``None`` for Pusher events.
        echo: the sender receives it too (PieSocket's ``notify_self``); Pusher
            never echoes a client event.
    """

    channel: str
    event: str
    data: str
    user_id: str | None = None
    meta: str | None = None
    echo: bool = False


@dataclass(frozen=True, slots=True)
class SignIn:
    """The connection signed in as ``user_id`` (``pusher:signin``); the reply is queued.

    ``watchlist``: the user ids whose online/offline it wants (Pusher's watchlist),
    deduplicated, at most the session's limit.
    """

    user_id: str
    user_info: Any = None
    watchlist: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` after sending everything queued."""

    code: int
    reason: str


Command = Subscribe | Unsubscribe | ClientEvent | SignIn | Close


@dataclass(frozen=True, slots=True)
class Refusal:
    """Not a command: a note that the session told the client "no" (for logs and metrics).

    The session has already queued the error text; the shell only reports it
    (``WireSession.refusals_sent``).

    Attributes:
        message: what the client was told.
        code: the protocol's error code (``None`` for a refused subscription).
        channel: the channel whose subscription was refused, if that is what it was.
    """

    message: str
    code: int | None = None
    channel: str | None = None
