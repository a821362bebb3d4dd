"""The App model, the one definition of every app setting, and the AppStore seam.

Each field of :class:`App` carries a :class:`Setting` in its metadata. Everything
else that lists app settings is derived from those fields, never written out
again: the ``[[apps]]`` config model and the global defaults apps inherit
(``tidings.config``), the database columns (``tidings.apps.schema``), the input
models of the CLI and the admin API (``tidings.apps.inputs``), the OpenAPI
description, the Pusher ``SessionPolicy`` and the PieSocket ``open_session``
arguments (:func:`session_arguments`). Adding a setting is adding a field here
(plus a migration, which ``tests/contract/test_app_store.py`` proves exists).
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from tidings.apps.webhooks import Webhook, dump_webhooks, parse_webhooks
from tidings.typing import AppId, AppKey

__all__ = [
    "HISTORY_PREFIX_PATTERN",
    "App",
    "AppField",
    "AppStore",
    "Role",
    "Setting",
    "app_fields",
    "build_app",
    "session_arguments",
]


#: A ``history_channels`` item: ``*`` (every channel) or a channel-name prefix.
HISTORY_PREFIX_PATTERN: Final = r"^(\*|[-a-zA-Z0-9_=@,.;]{1,200})$"


class Role(enum.Enum):
    """How a field may be given and changed."""

    IDENTITY = "identity"  # given (or generated) at create time, never changed
    SECRET = "secret"  # given or generated at create time, changed by rotation only
    INTERNAL = "internal"  # kept by the store (rotation grace); never input
    SETTING = "setting"  # given at create time and changed by update


@dataclass(frozen=True, slots=True)
class Setting:
    """What one :class:`App` field means and where it goes.

    Attributes:
        help: one line for users (config docs, ``--help``, OpenAPI).
        role: how the field may be given and changed.
        minimum: the smallest integer accepted.
        maximum: the largest integer accepted.
        item_pattern: a regular expression every item of a list field must match.
        inherits: a global setting of the same name (``TIDINGS_<NAME>``) is the
            value of every app that leaves it unset; the database stores NULL then.
        default_app: the default app takes it from ``default_app_<name>``.
        policy: the Pusher ``SessionPolicy`` field it feeds.
        piesocket: the PieSocket ``open_session`` keyword it feeds.
        parse: turns plain values (TOML, JSON text, a database row) into the field's
            type, raising ``ValueError`` that names the key and the fix; ``None``
            for plain types.
        dump: the inverse of ``parse``: validated plain (JSON-ready) data.
    """

    help: str
    role: Role = Role.SETTING
    minimum: int | None = None
    maximum: int | None = None
    item_pattern: str | None = None
    inherits: bool = False
    default_app: bool = False
    policy: str | None = None
    piesocket: str | None = None
    parse: Callable[[Any], Any] | None = None
    dump: Callable[[Any], Any] | None = None


def _s(default: Any, help: str, **kwargs: Any) -> Any:
    # Secrets never appear in a repr (tracebacks, debug logs, error reports).
    hidden = kwargs.get("role") in (Role.SECRET, Role.INTERNAL)
    return field(default=default, repr=not hidden, metadata={"setting": Setting(help, **kwargs)})


def _limit(default: int, help: str, minimum: int = 1, **kwargs: Any) -> Any:
    return _s(default, help, minimum=minimum, inherits=True, **kwargs)


@dataclass(frozen=True, slots=True)
class App:
    """One tenant: credentials, feature flags and limits (Soketi's defaults).

    ``previous_secret`` still verifies signatures until ``previous_secret_expires_at``
    (Unix seconds) after a rotation with a grace period; stores drop it when it
    expires, so code that holds an ``App`` never has to look at the clock.
    """

    id: AppId = field(
        metadata={"setting": Setting("App id (numeric for the PyPI pusher SDK).", Role.IDENTITY)}
    )
    key: AppKey = field(
        metadata={
            "setting": Setting("Public key clients connect with.", Role.IDENTITY, policy="key")
        }
    )
    secret: str = field(
        repr=False,
        metadata={
            "setting": Setting(
                "Secret that signs auth and API calls.",
                Role.SECRET,
                policy="secret",
                piesocket="secret",
            )
        },
    )
    previous_secret: str | None = _s(
        None,
        "The secret before the last rotation, valid during its grace period.",
        role=Role.INTERNAL,
        policy="previous_secret",
        piesocket="previous_secret",
    )
    previous_secret_expires_at: float | None = _s(
        None, "When previous_secret stops verifying (Unix seconds).", role=Role.INTERNAL
    )
    name: str = _s("", "A label for people.")
    enabled: bool = _s(True, "Accept connections and API calls (false: refused with 4003).")
    enable_client_messages: bool = _s(
        True,
        "Allow client-* events (PieSocket: client messages).",
        default_app=True,
        policy="client_events",
        piesocket="client_messages",
    )
    enable_subscription_count: bool = _s(
        False,
        "Send pusher_internal:subscription_count on non-presence channels.",
        default_app=True,
    )
    max_connections: int | None = _s(
        None, "Connections the app may hold across the cluster (unset: no limit).", minimum=1
    )
    max_payload_bytes: int = _limit(100 * 1024, "Largest event data accepted, in bytes.")
    max_client_event_bytes: int = _limit(
        10 * 1024,
        "Largest client-* event data.",
        policy="max_client_event_bytes",
        piesocket="max_message_bytes",
    )
    max_channels_per_event: int = _limit(100, "Channels one HTTP publish may target.")
    max_batch_size: int = _limit(10, "Events in one batch_events call.")
    max_presence_members: int = _limit(
        100, "Members in one presence channel.", policy="max_presence_members"
    )
    max_member_info_bytes: int = _limit(
        2 * 1024, "Size of one presence member's user_info.", policy="max_member_info_bytes"
    )
    max_event_name_length: int = _limit(
        200, "Longest event name accepted.", policy="max_event_name_length"
    )
    max_subscriptions_per_connection: int = _limit(
        300, "Channels one connection may join.", policy="max_subscriptions"
    )
    max_client_events_per_second: int = _limit(
        10,
        "Client events one connection may send per second (0: no limit).",
        minimum=0,
        policy="max_client_events_per_second",
        piesocket="max_messages_per_second",
    )
    max_backend_events_per_second: int = _limit(
        0,
        "Events the app's backend may publish per second through the HTTP API, "
        "per node (0: no limit).",
        minimum=0,
    )
    max_read_requests_per_second: int = _limit(
        0,
        "HTTP API reads (channels, users) the app may make per second, per node (0: no limit).",
        minimum=0,
    )
    allowed_origins: tuple[str, ...] = field(
        default_factory=tuple,
        metadata={"setting": Setting("Origins allowed to connect (* wildcards; empty: any).")},
    )
    webhooks: tuple[Webhook, ...] = field(
        default_factory=tuple,
        metadata={
            "setting": Setting(
                "Webhooks: [{url, event_types, filter, headers}, ...] (docs/webhooks.md).",
                default_app=True,
                parse=parse_webhooks,
                dump=dump_webhooks,
            )
        },
    )

    history_channels: tuple[str, ...] = field(
        default_factory=tuple,
        metadata={
            "setting": Setting(
                'Channel-name prefixes whose events are kept for recovery ("*": every channel; '
                "empty: none). See docs/history.md.",
                default_app=True,
                item_pattern=HISTORY_PREFIX_PATTERN,
            )
        },
    )
    history_size: int = _s(
        100,
        "Events kept per history channel.",
        minimum=1,
        maximum=1000,
        default_app=True,
    )
    history_ttl: int = _s(
        120,
        "Seconds a history channel's events are kept after its last publication.",
        minimum=1,
        maximum=86_400,
        default_app=True,
    )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret that verifies a signature now: the current one first."""
        if self.previous_secret is None:
            return (self.secret,)
        return (self.secret, self.previous_secret)

    def keeps_history(self, channel: str) -> bool:
        """Whether the app's events on ``channel`` are kept (``history_channels``).

        The server's own channels (``#...``) never are.
        """
        prefixes = self.history_channels
        if not prefixes or channel.startswith("#"):
            return False
        return "*" in prefixes or channel.startswith(prefixes)


@dataclass(frozen=True, slots=True)
class AppField:
    """One :class:`App` field with its resolved type and its :class:`Setting`."""

    name: str
    type: Any
    default: Any  # dataclasses.MISSING for the required ones
    setting: Setting

    @property
    def required(self) -> bool:
        """Whether an app cannot be built without it (id, key, secret)."""
        return self.default is dataclasses.MISSING


@functools.cache
def app_fields() -> tuple[AppField, ...]:
    """Every :class:`App` field, in declaration order."""
    hints = typing.get_type_hints(App)
    result = []
    for f in dataclasses.fields(App):
        default = f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        result.append(AppField(f.name, hints[f.name], default, f.metadata["setting"]))
    return tuple(result)


def build_app(values: Mapping[str, Any], inherited: Mapping[str, Any]) -> App:
    """An :class:`App` from plain values (a config table, a database row, API input).

    Missing fields take their default; an inherited limit that is missing or
    ``None`` takes ``inherited[name]``; lists become tuples; a field with a
    ``parse`` is parsed.

    Raises:
        KeyError: ``id``, ``key`` or ``secret`` is missing.
        ValueError: a value its ``parse`` refuses.
    """
    kwargs: dict[str, Any] = {}
    for f in app_fields():
        value = values.get(f.name)
        if f.name not in values:
            value = None if f.setting.inherits else f.default
        if value is None and f.setting.inherits:
            value = inherited[f.name]
        elif value is dataclasses.MISSING:
            raise KeyError(f.name)
        if f.setting.parse is not None:
            value = f.setting.parse(value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[f.name] = value
    return App(**kwargs)


def session_arguments(app: App, target: str) -> dict[str, Any]:
    """The keyword arguments ``target`` (``"policy"`` or ``"piesocket"``) takes from ``app``."""
    out = {}
    for f in app_fields():
        name = getattr(f.setting, target)
        if name is not None:
            out[name] = getattr(app, f.name)
    return out


class AppStore(Protocol):
    """Where apps are looked up. Lookups are by key (WebSocket) or id (HTTP API).

    Implementations answer from memory: these are on the hot path.
    """

    async def by_key(self, key: str) -> App | None:
        """The app with this key, or ``None``."""

    async def by_id(self, app_id: str) -> App | None:
        """The app with this id, or ``None``."""

    async def all(self) -> list[App]:
        """Every app, in a stable order."""
