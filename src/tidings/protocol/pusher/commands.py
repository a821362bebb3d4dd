"""What a Pusher session asks its shell to do. Don't subclass these.

The session validates and authorises; a command it emits is already allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ClientEvent", "Close", "Command", "SignIn", "Subscribe", "Unsubscribe"]


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Join ``channel``; on presence channels the user comes from the signed channel_data.

    The shell must answer with ``PusherSession.subscribed()`` or
    ``PusherSession.subscription_refused()``.
    """

    channel: str
    user_id: str | None = None
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Leave ``channel`` (already forgotten by the session); ``user_id`` on presence channels."""

    channel: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """Relay a ``client-*`` event to the channel's other subscribers.

    ``data`` is the JSON text of the data value; ``user_id`` is set on presence channels.
    """

    channel: str
    event: str
    data: str
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class SignIn:
    """The connection signed in as ``user_id`` (``pusher:signin``); the reply is queued."""

    user_id: str
    user_info: Any = None


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection with ``code`` after sending everything queued."""

    code: int
    reason: str


Command = Subscribe | Unsubscribe | ClientEvent | SignIn | Close
