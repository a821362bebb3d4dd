"""What the blocking and the asyncio client share: the app, the server, TLS, the auth answers.

:class:`~tidings.client.Client` and :class:`~tidings.client.AsyncClient` differ
only in how a signed :class:`~tidings.client._calls.Call` travels (``urllib``
or ``aiohttp``); everything that does no I/O is here, once: the constructor,
:meth:`ClientBase.from_settings`, and the answers a user-authentication or
channel-authorization endpoint returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from tidings.client._calls import Api
from tidings.client._target import default_cafile, server_url, settings_app, tls_context

if TYPE_CHECKING:
    from tidings.config import Settings

__all__ = ["ClientBase"]


class ClientBase:
    """The part of both clients that does no I/O; the arguments are
    :class:`~tidings.client.Client`'s."""

    def __init__(
        self,
        app_id: str,
        key: str,
        secret: str,
        *,
        url: str = "http://127.0.0.1:6001",
        timeout: float = 10.0,
        cafile: str | Path | None = None,
    ) -> None:
        self.api = Api(app_id, key, secret, url)
        self.url = url
        self.timeout = timeout
        self._tls = tls_context(cafile)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        app_id: str | None = None,
        url: str | None = None,
        cafile: str | Path | None = None,
    ) -> Self:
        """A client for a configured app (default: the first) at the configured server.

        Without ``cafile``, a self-signed ``tls_cert`` of the configured listener is trusted.
        """
        app = settings_app(settings, app_id)
        cafile = cafile or default_cafile(settings, url)
        return cls(app.id, app.key, app.secret, url=url or server_url(settings), cafile=cafile)

    def authenticate_user(self, socket_id: str, user_data: Mapping[str, Any]) -> dict[str, str]:
        """What a user-authentication endpoint returns to ``pusher.signin()``; no I/O.

        ``{"auth", "user_data"}`` as the PyPI ``pusher`` SDK computes them; see
        :func:`tidings.client.auth.user_authentication`.
        """
        return self.api.authenticate_user(socket_id, user_data)

    def authorize_channel(
        self, socket_id: str, channel: str, user_data: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """What a channel-authorization endpoint returns for a private/presence subscribe; no I/O.

        ``user_data`` is the presence member; see
        :func:`tidings.client.auth.channel_authorization`.
        """
        return self.api.authorize_channel(socket_id, channel, user_data)
