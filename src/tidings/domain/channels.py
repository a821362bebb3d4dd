"""Channel kinds and name rules (Pusher Channels naming, Soketi's limits).

Besides the four kinds a client names, Pusher has one channel per signed-in
user, ``#server-to-user-{user id}`` (what the server SDKs' ``send_to_user``
publishes to): only a connection signed in as that user may subscribe, and its
name is the prefix plus a valid user id (:func:`user_id_problem`), as the PyPI
``pusher`` SDK checks it. ``#`` starts no other valid name, so names of the
server's own internal channels (:data:`INTERNAL_PREFIX`) can never collide
with a client's.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from tidings.errors import SubscriptionError
from tidings.typing import ChannelName

__all__ = [
    "INTERNAL_PREFIX",
    "MAX_CHANNEL_NAME_LENGTH",
    "MAX_USER_ID_LENGTH",
    "SERVER_TO_USER_PREFIX",
    "USERS_CHANNEL",
    "ChannelKind",
    "channel_kind",
    "client_event_allowed",
    "is_cache_channel",
    "is_internal",
    "name_problem",
    "server_to_user_channel",
    "server_to_user_id",
    "user_id_problem",
    "validate_channel_name",
    "watch_channel",
]

MAX_CHANNEL_NAME_LENGTH: Final = 200
MAX_USER_ID_LENGTH: Final = 200  # the PyPI SDK's validate_user_id
SERVER_TO_USER_PREFIX: Final = "#server-to-user-"
INTERNAL_PREFIX: Final = "#tidings-"
"""Channels the server keeps for itself (never valid for a client or the HTTP API)."""
USERS_CHANNEL: Final = ChannelName(INTERNAL_PREFIX + "users")
"""The internal presence set of an app's signed-in users (one member per user)."""
_NAME_RE: Final = re.compile(r"\A[-a-zA-Z0-9_=@,.;]+\Z")


class ChannelKind(enum.Enum):
    """What a channel name's prefix makes it."""

    PUBLIC = "public"
    PRIVATE = "private"
    PRIVATE_ENCRYPTED = "private-encrypted"
    PRESENCE = "presence"
    SERVER_TO_USER = "server-to-user"

    @property
    def needs_auth(self) -> bool:
        """Whether subscribing needs a signed ``auth`` string.

        A server-to-user channel needs none: the connection's sign-in is its proof.
        """
        return self not in (ChannelKind.PUBLIC, ChannelKind.SERVER_TO_USER)

    @property
    def allows_client_events(self) -> bool:
        """Client events (``client-*``) are allowed on private and presence channels only."""
        return self not in (ChannelKind.PUBLIC, ChannelKind.SERVER_TO_USER)


_CLIENT_EVENT_KINDS: Final = frozenset({ChannelKind.PRIVATE, ChannelKind.PRESENCE})


def channel_kind(name: str) -> ChannelKind:
    """Classify a channel by its prefix; cache channels take the kind of what follows ``cache-``."""
    if name.startswith(SERVER_TO_USER_PREFIX):
        return ChannelKind.SERVER_TO_USER
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


def is_internal(name: str) -> bool:
    """Whether ``name`` is one of the server's own channels (hidden from listings)."""
    return name.startswith(INTERNAL_PREFIX)


def watch_channel(user_id: str) -> ChannelName:
    """The internal channel a watcher of ``user_id`` listens on for its online/offline."""
    return ChannelName(f"{INTERNAL_PREFIX}watch-{user_id}")


def server_to_user_channel(user_id: str) -> str:
    """The channel ``send_to_user(user_id, ...)`` publishes to."""
    return SERVER_TO_USER_PREFIX + user_id


def server_to_user_id(name: str) -> str | None:
    """The user id of a ``#server-to-user-{id}`` channel name, or ``None`` for other names."""
    if name.startswith(SERVER_TO_USER_PREFIX):
        return name[len(SERVER_TO_USER_PREFIX) :]
    return None


def user_id_problem(user_id: object) -> str | None:
    """Why ``user_id`` is not a valid user id, or ``None`` when it is.

    The PyPI ``pusher`` SDK's rule (``validate_user_id``): a non-empty string of
    at most 200 characters of ``[-a-zA-Z0-9_=@,.;]``, so that
    ``#server-to-user-{id}`` and ``/users/{id}/...`` are usable as they are.
    """
    if not isinstance(user_id, str) or not user_id:
        return "user id must be a non-empty string"
    if len(user_id) > MAX_USER_ID_LENGTH:
        return f"user id is {len(user_id)} characters; the limit is {MAX_USER_ID_LENGTH}"
    if not _NAME_RE.match(user_id):
        return f"user id {user_id[:60]!r} has characters outside [-a-zA-Z0-9_=@,.;]"
    return None


def name_problem(name: object) -> str | None:
    """Why ``name`` is not a valid channel name, or ``None`` when it is."""
    if not isinstance(name, str) or not name:
        return "channel name must be a non-empty string"
    if len(name) > MAX_CHANNEL_NAME_LENGTH:
        return f"channel name is {len(name)} characters; the limit is {MAX_CHANNEL_NAME_LENGTH}"
    user_id = server_to_user_id(name)
    if user_id is not None:
        if not user_id or not _NAME_RE.match(user_id):
            return (
                f"channel name {name[:60]!r} is not {SERVER_TO_USER_PREFIX}<user id>, "
                "with a user id of [-a-zA-Z0-9_=@,.;]"
            )
        return None
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
