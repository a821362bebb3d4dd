"""AppCatalog: the apps a running node serves, config and database together, from memory.

Lookups (key → app on connect, id → app on publish) are dictionary hits. The
database is read only by :meth:`AppCatalog.refresh`, which the server calls in a
loop (:meth:`AppCatalog.follow`): it reads the one-row revision counter and,
when it moved, every row. A poll cannot be missed the way a notification can,
so a node that was partitioned from the database catches up on its next read.
While the database is unreachable the node keeps serving its last snapshot.

A previous secret (rotation grace) is dropped from the snapshot when it expires,
by the same loop, so holders of an ``App`` never check the clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from tidings.apps.base import App
from tidings.apps.database import AppDatabase
from tidings.apps.manage import AppManager, Source, app_from_row
from tidings.errors import UnavailableError
from tidings.typing import AppId

__all__ = ["AppCatalog", "AppChanges"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class AppChanges:
    """What one refresh changed.

    Attributes:
        changed: apps that are new or whose fields changed, and are enabled.
        gone: ids of apps that were deleted or disabled since the last snapshot.
    """

    changed: tuple[App, ...] = ()
    gone: tuple[AppId, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.changed or self.gone)


class AppCatalog:
    """An :class:`~tidings.apps.base.AppStore` over config apps plus an optional database.

    Config apps win over database apps with the same id or key (those are logged
    and left out). Call :meth:`load` once before serving.

    Args:
        config_apps: the apps of the configuration (read-only).
        database: the app database, or ``None`` for config apps only.
        inherited: the values of limits a database app leaves unset.
        clock: Unix time, for rotation grace expiry.
    """

    def __init__(
        self,
        config_apps: Sequence[App],
        database: AppDatabase | None,
        inherited: Mapping[str, Any],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._config = list(config_apps)
        self.database = database
        self._inherited = dict(inherited)
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._revision = -1
        self._next_expiry: float | None = None
        self._by_id: dict[str, App] = {}
        self._by_key: dict[str, App] = {}
        self._sources: dict[str, Source] = {}
        self._lock = asyncio.Lock()
        self._install([])

    def manager(self) -> AppManager:
        """The writer for this catalog's database.

        Raises:
            UnavailableError: the catalog has no database.
        """
        if self.database is None:
            raise UnavailableError("this node has no app database", hint="set database_url")
        return AppManager(self.database, self._config, self._inherited)

    # -- AppStore ---------------------------------------------------------------

    async def by_key(self, key: str) -> App | None:
        """The app with this key, or ``None``."""
        return self._by_key.get(key)

    async def by_id(self, app_id: str) -> App | None:
        """The app with this id, or ``None``."""
        return self._by_id.get(app_id)

    async def all(self) -> list[App]:
        """Config apps in configuration order, then database apps by creation."""
        return list(self._by_id.values())

    def source(self, app_id: str) -> Source | None:
        """Where ``app_id`` is defined, or ``None`` when unknown."""
        return self._sources.get(app_id)

    # -- refreshing -------------------------------------------------------------

    def load(self) -> None:
        """Read the database now (blocking; at start-up).

        Raises:
            UnavailableError: the database cannot be read.
        """
        if self.database is not None:
            self._revision, self._rows = self.database.load()
            self._install(self._rows)

    async def refresh(self) -> AppChanges:
        """Re-read the database if it changed, drop expired grace secrets; what changed.

        Raises:
            UnavailableError: the database cannot be read (the snapshot stays).
        """
        async with self._lock:
            database = self.database
            if database is None:
                return AppChanges()
            revision = await asyncio.to_thread(database.revision)
            if revision != self._revision:
                self._revision, self._rows = await asyncio.to_thread(database.load)
            elif self._next_expiry is None or self._clock() < self._next_expiry:
                return AppChanges()
            return self._install(self._rows)

    async def follow(
        self, on_change: Callable[[AppChanges], Awaitable[None] | None], interval: float
    ) -> None:
        """Refresh every ``interval`` seconds until cancelled; pass changes to ``on_change``.

        An unreachable database is logged once (and its return once); the node
        serves its last snapshot meanwhile.
        """
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                changes = await self.refresh()
            except UnavailableError as exc:
                if not failing:
                    log.warning(
                        "app database unreachable; serving the last apps", reason=exc.message
                    )
                failing = True
                continue
            if failing:
                log.info("app database reachable again")
                failing = False
            if changes:
                try:
                    result = on_change(changes)
                    if result is not None:
                        await result
                except Exception:  # a listener's bug must not stop the following
                    log.exception("applying app changes failed", changes=repr(changes))

    def _install(self, rows: Sequence[Mapping[str, Any]]) -> AppChanges:
        """Build the dictionaries from config apps and ``rows``; diff them with the old ones."""
        now = self._clock()
        by_id: dict[str, App] = {}
        by_key: dict[str, App] = {}
        sources: dict[str, Source] = {}
        for app in self._config:
            by_id[app.id], by_key[app.key], sources[app.id] = app, app, "config"
        next_expiry = None
        for row in rows:
            app = app_from_row(row, self._inherited, now)
            if app.id in by_id or app.key in by_key:
                log.warning("database app shadowed by a config app; ignored", app_id=app.id)
                continue
            by_id[app.id], by_key[app.key], sources[app.id] = app, app, "database"
            expires = app.previous_secret_expires_at
            if app.previous_secret is not None and expires is not None:
                next_expiry = expires if next_expiry is None else min(next_expiry, expires)
        old = self._by_id
        gone = [
            AppId(app_id)
            for app_id, app in old.items()
            if app.enabled and (app_id not in by_id or not by_id[app_id].enabled)
        ]
        changed = [app for app in by_id.values() if app.enabled and old.get(app.id) != app]
        self._by_id, self._by_key, self._sources = by_id, by_key, sources
        self._next_expiry = next_expiry
        return AppChanges(tuple(changed), tuple(gone))
