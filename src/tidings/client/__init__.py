"""A small typed publisher client for the Pusher HTTP API.

The PyPI ``pusher`` library remains the documented default for applications;
this client is what tidings' own CLI uses, and it reports the server's
``{"error", "hint"}`` replies as typed exceptions::

    from tidings.client import Client

    client = Client("1", "app-key", "app-secret", url="http://127.0.0.1:6001")
    client.trigger("my-channel", "my-event", {"message": "hello"})
"""

from __future__ import annotations

from tidings.client._calls import ChannelHistory, ChannelInfo
from tidings.client.aio import AsyncClient
from tidings.client.errors import (
    AuthenticationError,
    ClientError,
    ForbiddenError,
    NotFoundError,
    RequestError,
    ServerError,
    ServerUnreachable,
)
from tidings.client.sync import Client

__all__ = [
    "AsyncClient",
    "AuthenticationError",
    "ChannelHistory",
    "ChannelInfo",
    "Client",
    "ClientError",
    "ForbiddenError",
    "NotFoundError",
    "RequestError",
    "ServerError",
    "ServerUnreachable",
]
