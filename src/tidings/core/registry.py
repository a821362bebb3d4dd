"""The connections of this node, by app and by signed-in user.

Both indexes are dictionaries of dictionaries keyed by socket id, so adding,
removing and signing in are O(1), and a connection's removal takes it out of
the user index too (it remembers which user it signed in as).
"""

from __future__ import annotations

from typing import Protocol

from tidings.apps.base import App
from tidings.core.hub import Subscriber
from tidings.errors import ConnectionRejected
from tidings.typing import AppId, SocketId, UserId

__all__ = ["Connection", "ConnectionRegistry"]


class Connection(Subscriber, Protocol):
    """A client connection as the core sees it, whatever its wire protocol."""

    @property
    def app(self) -> App: ...

    @property
    def wire(self) -> str:
        """The wire protocol's name (``pusher``, ``piesocket``)."""

    def close(self, code: int, reason: str) -> None:
        """Send a last error with ``code``/``reason`` and close. Must not block or raise."""


class ConnectionRegistry:
    """Local connections by app id and by (app id, signed-in user id)."""

    __slots__ = ("_by_app", "_by_user", "_user_of")

    def __init__(self) -> None:
        self._by_app: dict[AppId, dict[SocketId, Connection]] = {}
        self._by_user: dict[tuple[AppId, UserId], dict[SocketId, Connection]] = {}
        self._user_of: dict[SocketId, UserId] = {}

    def add(self, conn: Connection, *, limit: int | None = None, elsewhere: int = 0) -> None:
        """Register ``conn``.

        Args:
            limit: the most connections its app may have (``None``: no limit).
            elsewhere: how many of them other nodes hold (cluster-wide limit).

        Raises:
            ConnectionRejected: 4004 when the app already has ``limit``.
        """
        app = conn.app
        conns = self._by_app.setdefault(app.id, {})
        if limit is not None and len(conns) + elsewhere >= limit:
            if not conns:
                del self._by_app[app.id]
            where = f", {elsewhere} of them on other nodes" if elsewhere else ""
            raise ConnectionRejected(
                f"app {app.id} is over its connection quota ({limit}{where})",
                code=4004,
                hint="raise max_connections for this app",
            )
        conns[conn.socket_id] = conn

    def remove(self, conn: Connection) -> None:
        """Forget ``conn`` in both indexes; unknown connections are ignored."""
        app_id = conn.app.id
        conns = self._by_app.get(app_id)
        if conns is not None and conns.pop(conn.socket_id, None) is not None and not conns:
            del self._by_app[app_id]
        user_id = self._user_of.pop(conn.socket_id, None)
        if user_id is not None:
            key = (app_id, user_id)
            users = self._by_user.get(key)
            if users is not None and users.pop(conn.socket_id, None) is not None and not users:
                del self._by_user[key]

    def sign_in(self, conn: Connection, user_id: UserId) -> None:
        """Index ``conn`` under ``user_id`` (a connection signs in as one user only)."""
        self._user_of[conn.socket_id] = user_id
        self._by_user.setdefault((conn.app.id, user_id), {})[conn.socket_id] = conn

    def of_app(self, app_id: AppId) -> list[Connection]:
        """The connections of ``app_id``."""
        return list(self._by_app.get(app_id, {}).values())

    def all(self) -> list[Connection]:
        """Every connection, of every app."""
        return [c for conns in self._by_app.values() for c in conns.values()]

    def counts(self) -> dict[AppId, int]:
        """How many connections each app with any has (reported with each heartbeat)."""
        return {app_id: len(conns) for app_id, conns in self._by_app.items()}

    def count(self, app_id: AppId) -> int:
        """How many connections ``app_id`` has."""
        return len(self._by_app.get(app_id, ()))

    def of_user(self, app_id: AppId, user_id: UserId) -> list[Connection]:
        """The connections signed in as ``user_id``."""
        return list(self._by_user.get((app_id, user_id), {}).values())

    def signed_in_users(self) -> int:
        """How many (app, user) pairs have a signed-in connection (for tests and stats)."""
        return len(self._by_user)
