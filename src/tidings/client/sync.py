"""The blocking client, on ``urllib.request`` (no extra dependency)."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from tidings.client._base import ClientBase
from tidings.client._calls import Call, ChannelHistory, ChannelInfo, read_reply
from tidings.client._target import unreachable
from tidings.domain.channels import server_to_user_channel

__all__ = ["Client"]

T = TypeVar("T")


class Client(ClientBase):
    """Publish to and query a tidings (or any Pusher-compatible) server.

    Args:
        app_id, key, secret: the app's credentials.
        url: the server's base URL; a path in it is signed as a proxy prefix.
        timeout: seconds to wait for each reply.
        cafile: PEM certificate(s) to trust for ``https://`` instead of the system's
            trust store: a self-signed server's own certificate.

    Every method raises a :class:`~tidings.client.errors.ClientError` subclass
    on failure; its ``str()`` carries the server's error and hint.
    """

    def _send(self, call: Call[T]) -> T:
        request = urllib.request.Request(
            call.url, data=call.body or None, method=call.method, headers=call.headers
        )
        try:
            with urllib.request.urlopen(
                request, timeout=self.timeout, context=self._tls
            ) as response:
                return read_reply(call, response.status, response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return read_reply(call, exc.code, exc.read())
        except (urllib.error.URLError, OSError) as exc:
            raise unreachable(self.url, getattr(exc, "reason", exc)) from None

    def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        *,
        socket_id: str | None = None,
        info: Iterable[str] = (),
    ) -> dict[str, dict[str, int]]:
        """Publish ``event`` to 1-100 channels (``data`` that is not a str is JSON-encoded).

        Returns:
            channel → requested counts (empty without ``info``).
        """
        return self._send(self.api.trigger(channels, event, data, socket_id=socket_id, info=info))

    def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> list[dict[str, int]]:
        """Publish several events (``channel``, ``name``, ``data``, [``socket_id``, ``info``]).

        Returns:
            one dict of counts per event when any asked for ``info``, else ``[]``.
        """
        return self._send(self.api.trigger_batch(events))

    def channels(
        self, prefix: str | None = None, info: Iterable[str] = ()
    ) -> dict[str, dict[str, int]]:
        """Occupied channels (whose name starts with ``prefix``) → requested counts."""
        return self._send(self.api.channels(prefix, info))

    def channel(self, name: str, info: Iterable[str] = ()) -> ChannelInfo:
        """Whether ``name`` is occupied, with the requested counts."""
        return self._send(self.api.channel(name, info))

    def history(
        self, channel: str, *, after_serial: int = 0, limit: int | None = None
    ) -> ChannelHistory:
        """The kept events of a history channel after ``after_serial`` (docs/history.md).

        Args:
            after_serial: the last serial already seen (0: from the oldest kept).
            limit: at most this many events (the server's default: 100; at most 1000).
        """
        return self._send(self.api.history(channel, after_serial=after_serial, limit=limit))

    def users(self, channel: str) -> list[str]:
        """The user ids on a presence channel."""
        return self._send(self.api.users(channel))

    def send_to_user(
        self, user_id: str, event: str, data: Any, *, socket_id: str | None = None
    ) -> None:
        """Send ``event`` to every connection signed in as ``user_id`` (its own channel)."""
        channel = server_to_user_channel(user_id)
        self._send(self.api.trigger(channel, event, data, socket_id=socket_id))

    def terminate_user_connections(self, user_id: str) -> None:
        """Close every connection signed in as ``user_id``."""
        self._send(self.api.terminate_user_connections(user_id))
