"""Laravel Reverb's apps as tidings apps: a pure mapping (``tidings apps import reverb``).

Reverb's apps are the entries of ``config('reverb.apps.apps')`` (``config/reverb.php``);
its ``.env`` sets the first one through ``REVERB_APP_*``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from tidings.apps.importing import Imported, Unmappable, Unmapped, is_given, positive, truthy

__all__ = ["from_reverb", "reverb_app_from_env", "reverb_apps_from_config"]


#: config/reverb.php's values for the app when the .env leaves them out.
_REVERB_ENV: Final = (
    ("REVERB_APP_ID", "app_id"),
    ("REVERB_APP_KEY", "key"),
    ("REVERB_APP_SECRET", "secret"),
    ("REVERB_APP_PING_INTERVAL", "ping_interval"),
    ("REVERB_APP_ACTIVITY_TIMEOUT", "activity_timeout"),
    ("REVERB_APP_MAX_CONNECTIONS", "max_connections"),
    ("REVERB_APP_MAX_MESSAGE_SIZE", "max_message_size"),
    ("REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM", "accept_client_events_from"),
)
_REVERB_RATE_ENV: Final = (
    ("REVERB_APP_RATE_LIMITING_ENABLED", "enabled"),
    ("REVERB_APP_RATE_LIMIT_MAX_ATTEMPTS", "max_attempts"),
    ("REVERB_APP_RATE_LIMIT_DECAY_SECONDS", "decay_seconds"),
    ("REVERB_APP_RATE_LIMIT_TERMINATE", "terminate_on_limit"),
)
_ACTIVITY_TIMEOUT: Final = 30


def reverb_app_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """The app ``config/reverb.php`` builds from a Laravel ``.env`` (its ``REVERB_APP_*``).

    Only the variables that are set appear, and ``accept_client_events_from``
    (``members``, config/reverb.php's default); the mapping applies Reverb's other defaults.

    Raises:
        ValueError: none of ``REVERB_APP_ID``, ``REVERB_APP_KEY``, ``REVERB_APP_SECRET`` is set.
    """
    app: dict[str, Any] = {}
    for variable, key in _REVERB_ENV:
        if is_given(env.get(variable)):
            app[key] = env[variable]
    # config/reverb.php: env('REVERB_APP_ACCEPT_CLIENT_EVENTS_FROM', 'members').
    app.setdefault("accept_client_events_from", "members")
    rate = {key: env[var] for var, key in _REVERB_RATE_ENV if is_given(env.get(var))}
    if rate:
        app["rate_limiting"] = rate
    if not any(key in app for key in ("app_id", "key", "secret")):
        raise ValueError(
            "no REVERB_APP_ID, REVERB_APP_KEY or REVERB_APP_SECRET in the file "
            "(is it the Laravel app's .env?)"
        )
    return app


def reverb_apps_from_config(data: Any) -> list[Mapping[str, Any]]:
    """Reverb's apps from its config as JSON: ``config('reverb')``, ``config('reverb.apps')``
    (``{"provider": "config", "apps": [...]}``) or the list of apps itself.

    Raises:
        ValueError: no list of app objects there.
    """
    apps = data
    for _ in range(2):  # reverb -> reverb.apps -> reverb.apps.apps
        if isinstance(apps, Mapping) and "apps" in apps:
            apps = apps["apps"]
    if not isinstance(apps, list) or not all(isinstance(app, Mapping) for app in apps):
        raise ValueError(
            "no Reverb apps in the JSON: give config('reverb.apps') such as "
            '{"provider": "config", "apps": [{"app_id": "...", "key": "...", "secret": "..."}]}'
        )
    return list(apps)


_REVERB_KNOWN: Final = frozenset(
    {
        "app_id",
        "key",
        "secret",
        "options",
        "allowed_origins",
        "ping_interval",
        "activity_timeout",
        "max_connections",
        "max_message_size",
        "accept_client_events_from",
        "rate_limiting",
    }
)


def from_reverb(app: Mapping[str, Any]) -> Imported:
    """A Reverb app (an entry of ``config('reverb.apps.apps')``) as a tidings app."""
    values: dict[str, Any] = {"name": "reverb"}
    unmapped: list[Unmapped] = []
    notes: list[str] = []
    for source, target in (("app_id", "id"), ("key", "key"), ("secret", "secret")):
        if is_given(app.get(source)):
            values[target] = str(app[source])

    def convert(name: str, target: str, how: Callable[[Any], Any]) -> None:
        if not is_given(app.get(name)):
            return
        try:
            values[target] = how(app[name])
        except Unmappable as skip:
            unmapped.append(Unmapped(name, app[name], str(skip)))

    convert("max_connections", "max_connections", positive)
    convert("max_message_size", "max_client_event_bytes", positive)
    origins = app.get("allowed_origins")
    if is_given(origins):
        mapped = _reverb_origins(origins)
        if mapped is None:
            unmapped.append(Unmapped("allowed_origins", origins, "not a list of host names"))
        else:
            values["allowed_origins"] = mapped
    accept = str(app.get("accept_client_events_from") or "all").strip().lower()
    values["enable_client_messages"] = accept in ("all", "members")
    if accept == "all":
        notes.append(
            "client events: tidings relays them from members of the channel only "
            "(accept_client_events_from 'members', as Pusher)"
        )
    if is_given(app.get("ping_interval")):
        unmapped.append(
            Unmapped(
                "ping_interval",
                app["ping_interval"],
                "tidings pings a client after activity_timeout seconds of silence, "
                "a server-wide setting (30 s)",
            )
        )
    timeout = app.get("activity_timeout")
    if is_given(timeout) and str(timeout).strip() != str(_ACTIVITY_TIMEOUT):
        unmapped.append(
            Unmapped(
                "activity_timeout",
                timeout,
                "server-wide in tidings: set activity_timeout (TIDINGS_ACTIVITY_TIMEOUT)",
            )
        )
    rate = app.get("rate_limiting")
    if isinstance(rate, Mapping) and truthy(rate.get("enabled")):
        unmapped.append(
            Unmapped(
                "rate_limiting",
                dict(rate),
                "tidings limits client events per connection instead "
                "(max_client_events_per_second, 10 by default)",
            )
        )
    options = app.get("options")
    if isinstance(options, Mapping) and any(is_given(v) for v in options.values()):
        unmapped.append(
            Unmapped(
                "options",
                dict(options),
                "where Laravel reaches the server (REVERB_HOST, REVERB_PORT, REVERB_SCHEME): "
                "point them at tidings",
            )
        )
    for name in sorted(set(app) - _REVERB_KNOWN):
        if is_given(app[name]):
            unmapped.append(Unmapped(name, app[name], "not a Reverb app setting"))
    missing = [
        source
        for source, target in (("app_id", "id"), ("key", "key"), ("secret", "secret"))
        if target not in values
    ]
    problem = f"no {' or '.join(missing)} in the Reverb app" if missing else None
    return Imported(values, tuple(unmapped), tuple(notes), problem)


def _reverb_origins(value: Any) -> list[str] | None:
    """Reverb's allowed hosts as tidings' Origin patterns (``[]``: any origin).

    Reverb compares the host of the Origin header with each entry (``Str::is``,
    ``*`` wildcards); tidings matches the whole Origin, so each host becomes
    ``*://host`` and ``*://host:*`` (any scheme, any port).
    """
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    if "*" in value:
        return []
    patterns: list[str] = []
    for host in value:
        patterns += [f"*://{host}", f"*://{host}:*"]
    return patterns
