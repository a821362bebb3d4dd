"""Channel kinds and name rules (Pusher Channels naming, Soketi's limits)."""

from __future__ import annotations

import enum
import re
from typing import Final

from tidings.errors import SubscriptionError

__all__ = [
    "MAX_CHANNEL_NAME_LENGTH",
    "ChannelKind",
    "channel_kind",
    "client_event_allowed",
    "is_cache_channel",
    "name_problem",
    "validate_channel_name",
]

MAX_CHANNEL_NAME_LENGTH: Final = 200
_NAME_RE: Final = re.compile(r"\A[-a-zA-Z0-9_=@,.;]+\Z")


class ChannelKind(enum.Enum):
    """What a channel name's prefix makes it."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRIVATE_ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"

    @property
    def needs_auth(self) -> bool:
        """Whether subscribing needs a signed ``auth`` string."""
        return self is not ChannelKind.PUBLIC

    @property
    def allows_client_events(self) -> bool:
        """Client events (``client-*``) are allowed on private and presence channels only."""
        return self is not ChannelKind.PUBLIC


_CLIENT_EVENT_KINDS: Final = frozenset({ChannelKind.PRIVATE, ChannelKind.PRESENCE})


def channel_kind(name: str) -> ChannelKind:
    """Classify a channel by its prefix; cache channels take the kind of what follows ``cache-``."""
    if name.startswith("private-encrypted-"):
        return ChannelKind.PRIVATE_ENCRYPTED
    if name.startswith(("private-cache-encrypted-", "private-encrypted-cache-")):
        return ChannelKind.PRIVATE_ENCRYPTED
    if name.startswith("private-"):
        return ChannelKind.PRIVATE
    if name.startswith("presence-"):
        return ChannelKind.PRESENCE
    return ChannelKind.PUBLIC


def is_cache_channel(name: str) -> bool:
    """Whether ``name`` is a cache channel (``cache-``, ``private-cache-``...)."""
    return (
        name.startswith("cache-")
        or name.startswith("private-cache-")
        or name.startswith("presence-cache-")
        or name.startswith("private-encrypted-cache-")
    )


def client_event_allowed(event: str, channel: str) -> bool:
    """Whether a message a *client* sent may reach Pusher subscribers of ``channel``.

    The one rule for every protocol: only as a Pusher client event, that is an
    event named ``client-*`` on a private or presence channel that is not
    end-to-end encrypted (the server cannot encrypt for the other members, and
    plaintext would be fed to their decryption). Anything else a client sends
    (a PieSocket message named like a server event, on a public channel) would
    be indistinguishable from the app's own events, so Pusher clients never see
    it. Whether the app allows client events at all is the session's check.
    """
    return event.startswith("client-") and channel_kind(channel) in _CLIENT_EVENT_KINDS


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid channel name, or ``None`` when it is."""
    if not isinstance(name, str) or not name:
        return "channel name must be a non-empty string"
    if len(name) > MAX_CHANNEL_NAME_LENGTH:
        return f"channel name is {len(name)} characters; the limit is {MAX_CHANNEL_NAME_LENGTH}"
    if not _NAME_RE.match(name):
        return f"channel name {name[:60]!r} has characters outside [-a-zA-Z0-9_=@,.;]"
    return None


def validate_channel_name(name: object) -> str:
    """Return ``name`` when valid.

    Raises:
        SubscriptionError: with ``kind="InvalidChannel"`` and the reason.
    """
    problem = name_problem(name)
    if problem is not None:
        raise SubscriptionError(problem, kind="InvalidChannel", status=400)
    assert isinstance(name, str)
    return name
