"""Which app and URL a client uses when built from tidings' own settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tidings.apps.base import App
from tidings.client.errors import ClientError

if TYPE_CHECKING:
    from tidings.config import Settings

__all__ = ["server_url", "settings_app"]


def settings_app(settings: Settings, app_id: str | None = None) -> App:
    """The configured app with ``app_id``, or the first one.

    Raises:
        ClientError: no configured app has that id (the hint lists them).
    """
    apps = settings.app_list()
    if app_id is None:
        return apps[0]
    for app in apps:
        if app.id == app_id:
            return app
    known = ", ".join(a.id for a in apps)
    raise ClientError(f"no app {app_id!r} in the configuration", hint=f"known app ids: {known}")


def server_url(settings: Settings) -> str:
    """The HTTP API base URL: ``public_url`` (+ ``path_prefix``), else the listener's address."""
    if settings.public_url:
        url = settings.public_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        prefix = settings.path_prefix
        return url if not prefix or url.endswith(prefix) else url + prefix
    host = settings.http_host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.http_port}"
