"""The asyncio client, on aiohttp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp

from tidings.client._calls import Api, Call, ChannelHistory, ChannelInfo, read_reply
from tidings.client._target import (
    default_cafile,
    server_url,
    settings_app,
    tls_context,
    unreachable,
)
from tidings.domain.channels import server_to_user_channel

if TYPE_CHECKING:
    from tidings.config import Settings

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """The asyncio twin of :class:`~tidings.client.Client`; same methods, awaited.

    Use it as ``async with AsyncClient(...) as client:``, or call :meth:`close`;
    it owns one ``aiohttp.ClientSession``, opened on first use.
    """

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
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        app_id: str | None = None,
        url: str | None = None,
        cafile: str | Path | None = None,
    ) -> AsyncClient:
        """A client for a configured app (default: the first) at the configured server.

        Without ``cafile``, a self-signed ``tls_cert`` of the configured listener is trusted.
        """
        app = settings_app(settings, app_id)
        cafile = cafile or default_cafile(settings, url)
        return cls(app.id, app.key, app.secret, url=url or server_url(settings), cafile=cafile)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _send(self, call: Call[T]) -> T:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.request(
                call.method,
                call.url,
                data=call.body or None,
                headers=call.headers,
                ssl=self._tls if self._tls is not None else True,
            ) as response:
                body = await response.read()
        except aiohttp.ClientConnectorCertificateError as exc:
            raise unreachable(self.url, exc.certificate_error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise unreachable(self.url, exc or type(exc).__name__) from None
        return read_reply(call, response.status, body)

    async def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        *,
        socket_id: str | None = None,
        info: Iterable[str] = (),
    ) -> dict[str, dict[str, int]]:
        """See :meth:`tidings.client.Client.trigger`."""
        call = self.api.trigger(channels, event, data, socket_id=socket_id, info=info)
        return await self._send(call)

    async def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, int]]:
        """See :meth:`tidings.client.Client.trigger_batch`."""
        return await self._send(self.api.trigger_batch(events))

    async def channels(
        self, prefix: str | None = None, info: Iterable[str] = ()
    ) -> dict[str, dict[str, int]]:
        """See :meth:`tidings.client.Client.channels`."""
        return await self._send(self.api.channels(prefix, info))

    async def channel(self, name: str, info: Iterable[str] = ()) -> ChannelInfo:
        """See :meth:`tidings.client.Client.channel`."""
        return await self._send(self.api.channel(name, info))

    async def history(
        self, channel: str, *, after_serial: int = 0, limit: int | None = None
    ) -> ChannelHistory:
        """See :meth:`tidings.client.Client.history`."""
        return await self._send(self.api.history(channel, after_serial=after_serial, limit=limit))

    async def users(self, channel: str) -> list[str]:
        """See :meth:`tidings.client.Client.users`."""
        return await self._send(self.api.users(channel))

    async def send_to_user(
        self, user_id: str, event: str, data: Any, *, socket_id: str | None = None
    ) -> None:
        """Send ``event`` to every connection signed in as ``user_id`` (its own channel)."""
        channel = server_to_user_channel(user_id)
        await self._send(self.api.trigger(channel, event, data, socket_id=socket_id))

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

    async def terminate_user_connections(self, user_id: str) -> None:
        """See :meth:`tidings.client.Client.terminate_user_connections`."""
        await self._send(self.api.terminate_user_connections(user_id))
