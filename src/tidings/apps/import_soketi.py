"""Soketi's apps as tidings apps: a pure mapping (``tidings apps import soketi``).

Soketi (``src/app.ts``, the ``App`` constructor) reads each setting under three
spellings: camelCase (its JSON config and the array app manager), PascalCase
(DynamoDB) and snake_case (the MySQL and PostgreSQL tables); ``''`` and ``null``
mean "not set". -1 means "no limit" for its connection and rate limits. Limits in
KB are KiB (Soketi divides byte counts by 1024).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from tidings.apps.importing import (
    Imported,
    Unmappable,
    Unmapped,
    as_bool,
    as_int,
    is_given,
    kib_to_bytes,
    positive,
)

__all__ = [
    "SOKETI_DEFAULT_APP_ENV",
    "from_soketi",
    "soketi_app_from_env",
    "soketi_apps_from_config",
]


def _count(value: Any) -> int | None:
    """A Soketi connection limit: -1 (or any negative) is no limit (None)."""
    number = as_int(value)
    if number < 0:
        return None
    if number == 0:
        raise Unmappable(
            "0 lets no client connect in Soketi; tidings needs 1 or more (left unlimited)"
        )
    return number


def _rate(value: Any) -> int:
    """A Soketi rate limit per second: -1 is no limit, which tidings writes 0."""
    number = as_int(value)
    if number < 0:
        return 0
    if number == 0:
        raise Unmappable("0 refuses everything in Soketi; 0 means no limit in tidings (left unset)")
    return number


# One Soketi setting: its camelCase name (the snake and Pascal spellings are
# listed where they differ from the derived ones), the tidings field it feeds,
# and the conversion.
_SOKETI: Final[tuple[tuple[str, str, str | None, Callable[[Any], Any]], ...]] = (
    ("id", "id", "id", str),
    ("key", "key", "key", str),
    ("secret", "secret", "secret", str),
    ("maxConnections", "max_connections", "max_connections", _count),
    ("enableClientMessages", "enable_client_messages", "enable_client_messages", as_bool),
    ("enabled", "enabled", "enabled", as_bool),
    ("maxBackendEventsPerSecond", "max_backend_events_per_sec", "max_backend_events_per_second",
     _rate),
    ("maxClientEventsPerSecond", "max_client_events_per_sec", "max_client_events_per_second",
     _rate),
    ("maxReadRequestsPerSecond", "max_read_req_per_sec", "max_read_requests_per_second", _rate),
    ("webhooks", "webhooks", "webhooks", lambda v: v),  # mapped by _soketi_webhooks
    ("maxPresenceMembersPerChannel", "max_presence_members_per_channel", "max_presence_members",
     positive),
    ("maxPresenceMemberSizeInKb", "max_presence_member_size_in_kb", "max_member_info_bytes",
     kib_to_bytes),
    ("maxChannelNameLength", "max_channel_name_length", None, as_int),
    ("maxEventChannelsAtOnce", "max_event_channels_at_once", "max_channels_per_event", positive),
    ("maxEventNameLength", "max_event_name_length", "max_event_name_length", positive),
    ("maxEventPayloadInKb", "max_event_payload_in_kb", "max_payload_bytes", kib_to_bytes),
    ("maxEventBatchSize", "max_event_batch_size", "max_batch_size", positive),
    ("enableUserAuthentication", "enable_user_authentication", None, as_bool),
)  # fmt: skip

_SOKETI_ID_SPELLINGS: Final = {"id": "AppId", "key": "AppKey", "secret": "AppSecret"}
_CHANNEL_NAME_LIMIT: Final = 200


def _soketi_spellings(camel: str, snake: str) -> tuple[str, ...]:
    pascal = _SOKETI_ID_SPELLINGS.get(camel, camel[0].upper() + camel[1:])
    return tuple(dict.fromkeys((camel, pascal, snake)))


def from_soketi(row: Mapping[str, Any]) -> Imported:
    """A Soketi app (a table row, a JSON config entry or a DynamoDB item) as a tidings app.

    Args:
        row: the app's fields under any of Soketi's spellings.

    Returns:
        The mapped app; ``problem`` is set when it has no id, key or secret.
    """
    values: dict[str, Any] = {"name": "soketi"}
    unmapped: list[Unmapped] = []
    notes: list[str] = []
    known: set[str] = set()
    for camel, snake, target, convert in _SOKETI:
        spellings = _soketi_spellings(camel, snake)
        known.update(spellings)
        present = [name for name in spellings if is_given(row.get(name))]
        if not present:
            continue
        name = present[-1]  # Soketi's order: the last spelling found wins
        value = row[name]
        if camel == "webhooks":
            hooks, lost = _soketi_webhooks(name, value)
            values["webhooks"] = hooks
            unmapped += lost
            continue
        try:
            converted = convert(value)
        except Unmappable as skip:
            unmapped.append(Unmapped(name, value, str(skip)))
            continue
        if target is None:
            reason = _soketi_unsupported(camel, converted)
            if reason:
                unmapped.append(Unmapped(name, value, reason))
            continue
        if converted is not None:
            values[target] = converted
    for name in sorted(set(row) - known):
        if is_given(row[name]):
            unmapped.append(Unmapped(name, row[name], "not a Soketi app setting"))
    missing = [name for name in ("id", "key", "secret") if name not in values]
    problem = f"no {' or '.join(missing)} in the Soketi app" if missing else None
    if not missing and not values["id"].isdigit():
        notes.append(
            f"id {values['id']!r} is not numeric: the PyPI pusher SDK refuses it "
            "(pusher-js, Laravel and the Node SDK accept it)"
        )
    return Imported(values, tuple(unmapped), tuple(notes), problem)


def _soketi_unsupported(camel: str, value: Any) -> str:
    """Why a Soketi setting tidings lacks is lost, or ``""`` when nothing is lost."""
    if camel == "maxChannelNameLength":
        if value == _CHANNEL_NAME_LIMIT:
            return ""
        return "tidings allows channel names of up to 200 characters in every app (Pusher's rule)"
    if camel == "enableUserAuthentication":
        if not value:
            return ""
        return (
            "tidings does not close connections that do not sign in; pusher:signin works "
            "in every app"
        )
    return ""  # pragma: no cover - every None target is listed above


def _soketi_webhooks(name: str, value: Any) -> tuple[list[dict[str, Any]], list[Unmapped]]:
    """Soketi webhooks (a list, or its JSON text) in tidings' shape, and what is lost."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [], [Unmapped(name, value, "not valid JSON (Soketi ignores it too)")]
    if not isinstance(value, list):
        return [], [Unmapped(name, value, "not a list (Soketi ignores it too)")]
    hooks: list[dict[str, Any]] = []
    lost: list[Unmapped] = []
    for index, hook in enumerate(value):
        where = f"{name}[{index}]"
        if not isinstance(hook, Mapping):
            lost.append(Unmapped(where, hook, "not a webhook table"))
            continue
        if not is_given(hook.get("url")):
            lost.append(
                Unmapped(
                    where,
                    hook.get("lambda_function", hook),
                    "an AWS Lambda webhook: tidings POSTs to http(s) URLs only (left out)",
                )
            )
            continue
        out: dict[str, Any] = {"url": hook["url"]}
        for key in ("event_types", "filter", "headers"):
            if is_given(hook.get(key)):
                out[key] = hook[key]
        for key in sorted(set(hook) - {"url", "event_types", "filter", "headers"}):
            if is_given(hook[key]):
                reason = (
                    "AWS Lambda options: not used with a url"
                    if "lambda" in key
                    else ("not a Soketi webhook key")
                )
                lost.append(Unmapped(f"{where}.{key}", hook[key], reason))
        hooks.append(out)
    return hooks, lost


def soketi_apps_from_config(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The apps of a Soketi JSON config file (``appManager.array.apps``).

    Soketi sets each top-level key as a dotted path, so the apps may be under
    ``{"appManager.array.apps": [...]}``, ``{"appManager": {"array": {"apps": [...]}}}``
    or any mix of the two.

    Raises:
        ValueError: the file has no such list, or an entry is not an object.
    """
    apps = _dotted(config, ("appManager", "array", "apps"))
    if apps is None:
        raise ValueError(
            'no appManager.array.apps in the Soketi config (a list such as [{"id": "app-id", '
            '"key": "app-key", "secret": "app-secret"}])'
        )
    if not isinstance(apps, list) or not all(isinstance(app, Mapping) for app in apps):
        raise ValueError("appManager.array.apps must be a list of app objects")
    return list(apps)


#: Soketi's SOKETI_DEFAULT_APP_* variables (cli.ts) and the app field each sets.
SOKETI_DEFAULT_APP_ENV: Final = {
    "SOKETI_DEFAULT_APP_ID": "id",
    "SOKETI_DEFAULT_APP_KEY": "key",
    "SOKETI_DEFAULT_APP_SECRET": "secret",
    "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES": "enableClientMessages",
    "SOKETI_DEFAULT_APP_WEBHOOKS": "webhooks",
    "SOKETI_DEFAULT_APP_MAX_CONNS": "maxConnections",
    "SOKETI_DEFAULT_APP_ENABLED": "enabled",
    "SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC": "maxBackendEventsPerSecond",
    "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC": "maxClientEventsPerSecond",
    "SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC": "maxReadRequestsPerSecond",
    "SOKETI_DEFAULT_APP_USER_AUTHENTICATION": "enableUserAuthentication",
}


def soketi_app_from_env(env: Mapping[str, str]) -> dict[str, Any] | None:
    """Soketi's default app as its ``SOKETI_DEFAULT_APP_*`` variables make it, or ``None``
    when none is set.

    What they leave out keeps Soketi's default (``src/server.ts``: id ``app-id``, key
    ``app-key``, secret ``app-secret``, client events off); values are JSON-parsed
    first, as Soketi does.
    """
    given = {k: v for k, v in env.items() if k in SOKETI_DEFAULT_APP_ENV and v != ""}
    if not given:
        return None
    app: dict[str, Any] = {
        "id": "app-id",
        "key": "app-key",
        "secret": "app-secret",
        "enableClientMessages": False,
    }
    for name, value in given.items():
        try:
            app[SOKETI_DEFAULT_APP_ENV[name]] = json.loads(value)
        except ValueError:
            app[SOKETI_DEFAULT_APP_ENV[name]] = value
    return app


def _dotted(data: Any, path: tuple[str, ...]) -> Any:
    if not path:
        return data
    if not isinstance(data, Mapping):
        return None
    for cut in range(len(path), 0, -1):  # the longest dotted key first
        key = ".".join(path[:cut])
        if key in data:
            found = _dotted(data[key], path[cut:])
            if found is not None:
                return found
    return None
