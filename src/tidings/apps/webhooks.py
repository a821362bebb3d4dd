"""An app's webhooks: the value on :class:`tidings.apps.base.App` and its parser.

The shape is Soketi's (``docs/webhooks.md``)::

    [[apps.webhooks]]
    url = "http://127.0.0.1:8000/pusher/webhook"
    event_types = ["member_added", "member_removed"]        # default: all seven
    filter = { channel_name_starts_with = "presence-" }     # or channel_name_ends_with
    headers = { "X-Tenant" = "acme" }

:func:`parse_webhooks` turns TOML tables, JSON text (``TIDINGS_DEFAULT_APP_WEBHOOKS``) or
database JSON into :class:`Webhook` values, and refuses anything else with a
``ValueError`` naming the key and the fix. :meth:`Webhook.plain` is the inverse.
Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

__all__ = ["WEBHOOK_EVENT_TYPES", "Webhook", "dump_webhooks", "parse_webhooks"]

WEBHOOK_EVENT_TYPES: Final = (
    "channel_occupied",
    "channel_vacated",
    "member_added",
    "member_removed",
    "client_event",
    "cache_miss",
    "subscription_count",
)
"""Every Pusher webhook event type, in Pusher's order."""

_KEYS: Final = ("url", "event_types", "filter", "headers")
_FILTER_KEYS: Final = ("channel_name_starts_with", "channel_name_ends_with")
# Headers the server sets itself: a config that overrides them would break signing.
_RESERVED_HEADERS: Final = frozenset(
    {
        "content-type",
        "content-length",
        "host",
        "x-pusher-key",
        "x-pusher-signature",
        "x-tidings-delivery",
    }
)


@dataclass(frozen=True, slots=True)
class Webhook:
    """One webhook of an app: where to POST, which events, which channels, extra headers.

    Attributes:
        url: an ``http://`` or ``https://`` URL.
        event_types: the event names sent (a subset of :data:`WEBHOOK_EVENT_TYPES`).
        channel_name_starts_with: only channels whose name starts with this.
        channel_name_ends_with: only channels whose name ends with this.
        headers: extra request headers, as (name, value) pairs.
    """

    url: str
    event_types: tuple[str, ...] = WEBHOOK_EVENT_TYPES
    channel_name_starts_with: str | None = None
    channel_name_ends_with: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    def matches(self, event_name: str, channel: str) -> bool:
        """Whether an event of this name on this channel goes to this webhook."""
        if event_name not in self.event_types:
            return False
        start, end = self.channel_name_starts_with, self.channel_name_ends_with
        if start is not None and not channel.startswith(start):
            return False
        return end is None or channel.endswith(end)

    def plain(self) -> dict[str, Any]:
        """The TOML/JSON shape of this webhook (what :func:`parse_webhooks` reads)."""
        out: dict[str, Any] = {"url": self.url, "event_types": list(self.event_types)}
        given = (self.channel_name_starts_with, self.channel_name_ends_with)
        filters = {k: v for k, v in zip(_FILTER_KEYS, given, strict=True) if v is not None}
        if filters:
            out["filter"] = filters
        if self.headers:
            out["headers"] = dict(self.headers)
        return out


def dump_webhooks(value: Any) -> list[dict[str, Any]]:
    """Validated plain data (TOML/JSON shape) from anything :func:`parse_webhooks` takes.

    Raises:
        ValueError: as :func:`parse_webhooks`.
    """
    return [hook.plain() for hook in parse_webhooks(value)]


def parse_webhooks(value: Any) -> tuple[Webhook, ...]:
    """Webhooks from a list of tables (or its JSON text); :class:`Webhook` values pass through.

    Raises:
        ValueError: the message names the offending key (``webhooks[0].filter``) and the fix.
    """
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except ValueError as exc:
            raise ValueError(
                f"webhooks is not valid JSON ({exc.args[0]}); write a list such as "
                '[{"url": "http://127.0.0.1:8000/webhook"}]'
            ) from None
    if value is None:
        return ()
    if isinstance(value, Mapping):
        value = [value]  # one webhook written as a table, not a list of tables
    if not isinstance(value, list | tuple):
        raise ValueError(
            f"webhooks must be a list of tables ([[apps.webhooks]]), got {type(value).__name__}"
        )
    return tuple(_parse_one(item, f"webhooks[{i}]") for i, item in enumerate(value))


def _parse_one(item: Any, where: str) -> Webhook:
    if isinstance(item, Webhook):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be a table with a url, got {type(item).__name__}")
    unknown = sorted(set(item) - set(_KEYS))
    if unknown:
        raise ValueError(f"{where}.{unknown[0]} is not a webhook key; use {', '.join(_KEYS)}")
    return Webhook(
        url=_url(item.get("url"), f"{where}.url"),
        event_types=_event_types(item.get("event_types"), f"{where}.event_types"),
        **_filter(item.get("filter"), f"{where}.filter"),
        headers=_headers(item.get("headers"), f"{where}.headers"),
    )


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where} is required: the http(s) URL to POST events to")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{where} {value!r} is not an http(s) URL; write e.g. http://127.0.0.1:8000/webhook"
        )
    try:
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError:
        raise ValueError(f"{where} {value!r} has an invalid port") from None
    return value


def _event_types(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return WEBHOOK_EVENT_TYPES
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{where} must be a list of event names")
    for name in value:
        if name not in WEBHOOK_EVENT_TYPES:
            raise ValueError(
                f"{where}: unknown event type {name!r}; use some of "
                f"{', '.join(WEBHOOK_EVENT_TYPES)}"
            )
    if not value:
        raise ValueError(f"{where} is empty; leave it out to send every event type")
    return tuple(dict.fromkeys(value))


def _filter(value: Any, where: str) -> dict[str, str | None]:
    out: dict[str, str | None] = dict.fromkeys(_FILTER_KEYS)
    if value is None:
        return out
    if not isinstance(value, Mapping):
        raise ValueError(f"{where} must be a table such as {{ channel_name_starts_with = ... }}")
    for key, text in value.items():
        if key not in _FILTER_KEYS:
            raise ValueError(f"{where}.{key} is not a filter key; use {' or '.join(_FILTER_KEYS)}")
        if not isinstance(text, str) or not text:
            raise ValueError(f"{where}.{key} must be a non-empty string")
        out[key] = text
    return out


def _headers(value: Any, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise ValueError(f'{where} must be a table such as {{ "X-Tenant" = "acme" }}')
    pairs = []
    for name, text in value.items():
        if not isinstance(name, str) or not name.isascii() or not name.strip():
            raise ValueError(f"{where}: {name!r} is not a header name")
        if any(c in name for c in " :\r\n\t"):
            raise ValueError(f"{where}: {name!r} is not a header name (no spaces or colons)")
        if name.lower() in _RESERVED_HEADERS:
            raise ValueError(f"{where}.{name} is set by tidings itself; remove it")
        if not isinstance(text, str) or "\r" in text or "\n" in text:
            raise ValueError(f"{where}.{name} must be a one-line string")
        pairs.append((name, text))
    return tuple(pairs)
