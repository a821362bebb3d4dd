"""The asyncio client, on aiohttp."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp

from tidings.client._base import ClientBase
from tidings.client._calls import Call, ChannelHistory, ChannelInfo, read_reply
from tidings.client._target import unreachable
from tidings.domain.channels import server_to_user_channel

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient(ClientBase):
    """The asyncio twin of :class:`~tidings.client.Client`; same methods, awaited.

    Use it as ``async with AsyncClient(...) as client:``, or call :meth:`close`;
    it owns one ``aiohttp.ClientSession``, opened on first use.
    """

    _session: aiohttp.ClientSession | None = None

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

    async def terminate_user_connections(self, user_id: str) -> None:
        """See :meth:`tidings.client.Client.terminate_user_connections`."""
        await self._send(self.api.terminate_user_connections(user_id))
