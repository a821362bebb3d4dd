"""``tidings.Server``: a tidings server inside an existing asyncio application.

::

    import asyncio
    import tidings

    async def main() -> None:
        async with tidings.Server(http_port=6001) as server:
            server.on("member_added", lambda event: print("online:", event.user_id))
            await server.trigger("my-channel", "my-event", {"hello": "world"})
            await asyncio.Event().wait()  # serve until cancelled

It serves the same endpoints as ``tidings serve`` (WebSockets, the HTTP API,
the admin listener) on the running loop; no signal handlers are installed
and nothing is printed. Listeners run synchronously on the loop and must not
block (see ``tidings.core.bus``).
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import orjson

from tidings.config import Settings
from tidings.core.bus import EventBus, Listener
from tidings.domain.messages import Publication
from tidings.server.runner import RunningServer, start_server
from tidings.typing import AppId, ChannelName

__all__ = ["Server"]


class Server:
    """A tidings server to start and stop from your own asyncio code.

    Args:
        settings: the settings to serve with; by default ``Settings.load(**overrides)``
            (flags > ``TIDINGS_*`` env > ``tidings.toml`` > defaults).
        **overrides: setting values, as ``tidings serve`` flags would give them
            (``http_port=0`` picks a free port).
    """

    def __init__(self, settings: Settings | None = None, **overrides: Any) -> None:
        self.settings = settings if settings is not None else Settings.load(**overrides)
        self.bus = EventBus()
        self._running: RunningServer | None = None

    def on(self, event: Any, listener: Listener) -> Any:
        """Call ``listener`` with every lifecycle event named ``event`` (``"member_added"``)
        or of that type (``tidings.MemberAdded``); returns a function that removes it.

        Listeners may be added before or after :meth:`start`.
        """
        return self.bus.on(event, listener)

    async def start(self) -> None:
        """Bind the listeners and join the cluster (if the broker is Redis).

        Raises:
            OSError: the port is taken. ConfigError: settings that cannot work.
        """
        if self._running is not None:
            raise RuntimeError("Server.start() called twice; create a new Server to restart")
        self._running = await start_server(self.settings, bus=self.bus)

    async def stop(self) -> None:
        """Drain (clients are told to reconnect, 4200) and stop. Idempotent."""
        running, self._running = self._running, None
        if running is not None:
            await running.shutdown()

    async def trigger(
        self, channel: str, event: str, data: Any, *, app_id: str | None = None
    ) -> None:
        """Publish ``event`` to ``channel`` as the app's backend would (no HTTP round trip).

        Args:
            data: a JSON-serialisable value; like the HTTP API, a string is sent as is.
            app_id: the app (the default app when omitted).
        """
        text = data if isinstance(data, str) else orjson.dumps(data).decode()
        app = AppId(app_id or self.settings.default_app_id)
        await self.running.state.node.publish(
            Publication(app, ChannelName(channel), event, orjson.dumps(text).decode())
        )

    @property
    def running(self) -> RunningServer:
        """The started server (its URLs, port, node and state).

        Raises:
            RuntimeError: before :meth:`start` or after :meth:`stop`.
        """
        if self._running is None:
            raise RuntimeError("the server is not running: call `await server.start()` first")
        return self._running

    @property
    def http_url(self) -> str:
        """Base URL of the HTTP API (``http://127.0.0.1:6001``)."""
        return self.running.http_url

    @property
    def ws_url(self) -> str:
        """Base URL of the WebSocket endpoints (``ws://127.0.0.1:6001``)."""
        return self.running.ws_url

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
