"""StaticAppStore: the apps named in the configuration, fixed for the process lifetime."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from tidings.apps.base import App
from tidings.errors import ConfigError

__all__ = ["StaticAppStore"]


class StaticAppStore:
    """A read-only :class:`~tidings.apps.base.AppStore` over a fixed list of apps.

    Lookups are dictionary hits; nothing awaits. The order of :meth:`all` is the
    order the apps were given in.

    Args:
        apps: the apps, typically ``Settings.app_list()``.

    Raises:
        ConfigError: two apps share an id or a key.
    """

    def __init__(self, apps: Sequence[App]) -> None:
        self._apps = list(apps)
        self._by_id: dict[str, App] = {}
        self._by_key: dict[str, App] = {}
        for app in self._apps:
            if app.id in self._by_id:
                raise ConfigError(f"two apps share the id {app.id!r}", hint="app ids are unique")
            if app.key in self._by_key:
                raise ConfigError(f"two apps share the key {app.key!r}", hint="app keys are unique")
            self._by_id[app.id] = app
            self._by_key[app.key] = app

    async def by_key(self, key: str) -> App | None:
        """The app with this key, or ``None``."""
        return self._by_key.get(key)

    async def by_id(self, app_id: str) -> App | None:
        """The app with this id, or ``None``."""
        return self._by_id.get(app_id)

    async def all(self) -> list[App]:
        """Every app, in configuration order (a copy: callers may mutate it)."""
        return list(self._apps)


if TYPE_CHECKING:
    from tidings.apps.base import AppStore

    _check: type[AppStore] = StaticAppStore
