"""Soketi's ``SOKETI_*`` environment variables in tidings' terms: a pure mapping.

tidings does not read ``SOKETI_*`` variables (two names for one setting would
make ``tidings config show`` lie). Instead ``tidings serve`` names, in one
warning, the ``TIDINGS_*`` variable for each one that has an equivalent and the
ones it ignores, and ``tidings config from-soketi`` prints the equivalent
``tidings.toml``. The names and meanings are Soketi's (``src/cli/cli.ts``
``envVariables`` and the defaults in ``src/server.ts``): sizes in KB are KiB,
durations in milliseconds, JSON values parsed as Soketi parses them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import quote

from tidings.apps.import_soketi import SOKETI_DEFAULT_APP_ENV, from_soketi, soketi_app_from_env
from tidings.apps.importing import Imported

__all__ = ["SoketiEnv", "read_soketi_env", "startup_warning", "to_toml"]

PREFIX: Final = "SOKETI_"


def _int(value: str) -> int:
    return int(float(value))


def _kib(value: str) -> int:
    return round(float(value) * 1024)


def _seconds(value: str) -> float:
    return float(value) / 1000


def _debug(value: str) -> str | None:
    return "debug" if value.strip().lower() in ("1", "true", "yes", "on") else None


# Soketi's name (without SOKETI_) -> (tidings setting, conversion).
_DIRECT: Final[dict[str, tuple[str, Callable[[str], Any]]]] = {
    "HOST": ("http_host", str),
    "PORT": ("http_port", _int),
    "PATH_PREFIX": ("path_prefix", str),
    "DEBUG": ("log_level", _debug),
    "METRICS_HOST": ("admin_host", str),
    "METRICS_SERVER_PORT": ("admin_port", _int),
    "ADAPTER_REDIS_PREFIX": ("redis_prefix", str),
    "EVENT_MAX_BATCH_SIZE": ("max_batch_size", _int),
    "EVENT_MAX_CHANNELS_AT_ONCE": ("max_channels_per_event", _int),
    "EVENT_MAX_NAME_LENGTH": ("max_event_name_length", _int),
    "EVENT_MAX_SIZE_IN_KB": ("max_payload_bytes", _kib),
    "PRESENCE_MAX_MEMBERS": ("max_presence_members", _int),
    "PRESENCE_MAX_MEMBER_SIZE": ("max_member_info_bytes", _kib),
    "SHUTDOWN_GRACE_PERIOD": ("shutdown_grace_period", _seconds),
    "SSL_CERT": ("tls_cert", str),
    "SSL_KEY": ("tls_key", str),
    "WEBHOOKS_BATCHING_DURATION": ("webhook_batch_window", _seconds),
}
# The default app's variables without SOKETI_ (DEFAULT_APP_KEY, ...); those whose
# field has a default_app_* setting map to it, the others need an [[apps]] table.
_DEFAULT_APP: Final = tuple(name.removeprefix("SOKETI_") for name in SOKETI_DEFAULT_APP_ENV)
_DEFAULT_APP_SETTINGS: Final = {
    "id": "default_app_id",
    "key": "default_app_key",
    "secret": "default_app_secret",
    "enable_client_messages": "default_app_enable_client_messages",
    "webhooks": "default_app_webhooks",
}
_REDIS: Final = ("DB_REDIS_HOST", "DB_REDIS_PORT", "DB_REDIS_DB", "DB_REDIS_USERNAME",
                 "DB_REDIS_PASSWORD")  # fmt: skip
_SQL: Final = {
    "mysql": ("DB_MYSQL_HOST", "DB_MYSQL_PORT", "DB_MYSQL_USERNAME", "DB_MYSQL_PASSWORD",
              "DB_MYSQL_DATABASE"),
    "postgres": ("DB_POSTGRES_HOST", "DB_POSTGRES_PORT", "DB_POSTGRES_USERNAME",
                 "DB_POSTGRES_PASSWORD", "DB_POSTGRES_DATABASE"),
}  # fmt: skip
# Soketi's defaults (src/server.ts) for the parts of a URL a variable leaves out.
_SQL_DEFAULTS: Final = {
    "mysql": ("mysql", "127.0.0.1", "3306", "root", "password", "main"),
    "postgres": ("postgresql", "127.0.0.1", "5432", "postgres", "password", "main"),
}
_WHY: Final = {
    "METRICS_ENABLED": "metrics are always on, at /metrics on the admin listener",
    "CHANNEL_LIMITS_MAX_NAME_LENGTH": "tidings allows channel names of up to 200 characters",
    "WEBHOOKS_BATCHING": "tidings always batches webhooks (webhook_batch_window)",
    "APP_MANAGER_MYSQL_TABLE": "give it to `tidings apps import soketi --table`",
    "APP_MANAGER_POSTGRES_TABLE": "give it to `tidings apps import soketi --table`",
    "MODE": "a tidings node always serves the WebSocket and the HTTP API",
}
# Every variable of Soketi's cli.ts envVariables that the tables above leave out:
# known, and without an equivalent.
_OTHER_SOKETI: Final = frozenset(
    "ADAPTER_CLUSTER_REQUESTS_TIMEOUT ADAPTER_REDIS_CLUSTER_MODE ADAPTER_REDIS_REQUESTS_TIMEOUT "
    "ADAPTER_REDIS_SUB_OPTIONS ADAPTER_REDIS_PUB_OPTIONS ADAPTER_NATS_PREFIX ADAPTER_NATS_SERVERS "
    "ADAPTER_NATS_USER ADAPTER_NATS_PASSWORD ADAPTER_NATS_TOKEN ADAPTER_NATS_TIMEOUT "
    "ADAPTER_NATS_REQUESTS_TIMEOUT ADAPTER_NATS_NODES_NUMBER APP_MANAGER_CACHE_ENABLED "
    "APP_MANAGER_CACHE_TTL APP_MANAGER_DYNAMODB_TABLE APP_MANAGER_DYNAMODB_REGION "
    "APP_MANAGER_DYNAMODB_ENDPOINT APP_MANAGER_MYSQL_VERSION APP_MANAGER_POSTGRES_VERSION "
    "APP_MANAGER_MYSQL_USE_V2 CHANNEL_CACHE_TTL CACHE_DRIVER CACHE_REDIS_CLUSTER_MODE "
    "CACHE_REDIS_OPTIONS CLUSTER_CHECK_INTERVAL CLUSTER_HOST CLUSTER_IGNORE_PROCESS "
    "CLUSTER_BROADCAST_ADDRESS CLUSTER_KEEPALIVE_INTERVAL CLUSTER_MASTER_TIMEOUT "
    "CLUSTER_MULTICAST_ADDRESS CLUSTER_NODE_TIMEOUT CLUSTER_PORT CLUSTER_PREFIX "
    "CLUSTER_UNICAST_ADDRESSES DB_POOLING_ENABLED DB_POOLING_MIN DB_POOLING_MAX "
    "DB_REDIS_KEY_PREFIX DB_REDIS_SENTINELS DB_REDIS_SENTINEL_PASSWORD DB_REDIS_CLUSTER_NODES "
    "DB_REDIS_INSTANCE_NAME HTTP_ACCEPT_TRAFFIC_MEMORY_THRESHOLD METRICS_DRIVER "
    "METRICS_PROMETHEUS_PREFIX QUEUE_DRIVER QUEUE_REDIS_CONCURRENCY QUEUE_REDIS_OPTIONS "
    "QUEUE_REDIS_CLUSTER_MODE QUEUE_SQS_REGION QUEUE_SQS_CLIENT_OPTIONS QUEUE_SQS_URL "
    "QUEUE_SQS_ENDPOINT QUEUE_SQS_PROCESS_BATCH QUEUE_SQS_BATCH_SIZE "
    "QUEUE_SQS_POLLING_WAIT_TIME_MS RATE_LIMITER_DRIVER RATE_LIMITER_REDIS_OPTIONS "
    "RATE_LIMITER_REDIS_CLUSTER_MODE SSL_PASS SSL_CA USER_AUTHENTICATION_TIMEOUT".split()
)


@dataclass
class SoketiEnv:
    """What a set of ``SOKETI_*`` variables means for tidings.

    Attributes:
        settings: tidings settings (TOML keys) and their values.
        app: the default app as an ``[[apps]]`` table, when a variable of it has no
            ``default_app_*`` setting (its limits); ``None`` otherwise.
        mapped: ``(SOKETI_NAME, TIDINGS_NAME)`` for each variable with an equivalent.
        ignored: ``(SOKETI_NAME, reason)`` for each one without.
        notes: steps the settings alone do not take (importing the apps).
    """

    settings: dict[str, Any] = field(default_factory=dict)
    app: Imported | None = None
    mapped: list[tuple[str, str]] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def read_soketi_env(env: Mapping[str, str]) -> SoketiEnv:
    """Map the ``SOKETI_*`` variables of ``env`` (other variables are not looked at)."""
    given = {
        name.removeprefix(PREFIX): value
        for name, value in sorted(env.items())
        if name.startswith(PREFIX) and value != ""
    }
    out = SoketiEnv()
    for name, value in given.items():
        if name in _DIRECT:
            _direct(out, name, value)
        elif name in _WHY:
            out.ignored.append((PREFIX + name, _WHY[name]))
        elif name in _OTHER_SOKETI:
            out.ignored.append((PREFIX + name, "no tidings equivalent"))
        elif name not in _DEFAULT_APP and name not in _composite_names():
            out.ignored.append((PREFIX + name, "not a Soketi variable"))
    _default_app(out, given)
    _broker(out, given)
    _database(out, given)
    out.ignored.sort()
    return out


def _composite_names() -> set[str]:
    names = {"ADAPTER_DRIVER", "APP_MANAGER_DRIVER", *_REDIS}
    for variables in _SQL.values():
        names.update(variables)
    return names


def _direct(out: SoketiEnv, name: str, value: str) -> None:
    setting, convert = _DIRECT[name]
    try:
        converted = convert(value)
    except ValueError:
        out.ignored.append((PREFIX + name, f"{value!r} is not a number"))
        return
    if converted is None:  # SOKETI_DEBUG=false: nothing to set
        return
    out.settings[setting] = converted
    out.mapped.append((PREFIX + name, f"TIDINGS_{setting.upper()}"))


def _default_app(out: SoketiEnv, given: Mapping[str, str]) -> None:
    names = [name for name in _DEFAULT_APP if name in given]
    soketi_app = soketi_app_from_env({PREFIX + name: given[name] for name in names})
    if soketi_app is None:
        return
    app = from_soketi(soketi_app)
    values = {k: v for k, v in app.values.items() if k != "name"}
    unset = [k for k in ("id", "key", "secret") if f"DEFAULT_APP_{k.upper()}" not in given]
    if "DEFAULT_APP_ENABLE_CLIENT_MESSAGES" not in given:
        unset.append("enable_client_messages (false)")
    if unset:
        out.notes.append(f"the default app keeps Soketi's defaults for {', '.join(unset)}")
    if set(values) <= set(_DEFAULT_APP_SETTINGS):
        for key, value in values.items():
            out.settings[_DEFAULT_APP_SETTINGS[key]] = value
        for name in names:
            out.mapped.append((PREFIX + name, f"TIDINGS_{name}"))  # TIDINGS_DEFAULT_APP_KEY
        return
    out.app = Imported({**values, "name": "default"}, app.unmapped, app.notes, app.problem)
    for name in names:
        out.ignored.append(
            (PREFIX + name, "a default-app limit: `tidings config from-soketi` writes [[apps]]")
        )


def _broker(out: SoketiEnv, given: Mapping[str, str]) -> None:
    driver = given.get("ADAPTER_DRIVER", "local").strip().lower()
    redis = [name for name in _REDIS if name in given]
    if driver == "local":
        if "ADAPTER_DRIVER" in given:
            out.settings["broker_url"] = "memory://"
            out.mapped.append((PREFIX + "ADAPTER_DRIVER", "TIDINGS_BROKER_URL"))
        for name in redis:
            out.ignored.append((PREFIX + name, "Redis only for Soketi's cache or queue"))
        return
    if driver != "redis":
        out.ignored.append(
            (PREFIX + "ADAPTER_DRIVER", f"{driver!r}: tidings nodes share Redis (broker_url)")
        )
        return
    host = given.get("DB_REDIS_HOST", "127.0.0.1")
    port = given.get("DB_REDIS_PORT", "6379")
    auth = _userinfo(given.get("DB_REDIS_USERNAME", ""), given.get("DB_REDIS_PASSWORD", ""))
    out.settings["broker_url"] = f"redis://{auth}{host}:{port}/{given.get('DB_REDIS_DB', '0')}"
    for name in ("ADAPTER_DRIVER", *redis):
        out.mapped.append((PREFIX + name, "TIDINGS_BROKER_URL"))


def _database(out: SoketiEnv, given: Mapping[str, str]) -> None:
    driver = given.get("APP_MANAGER_DRIVER", "array").strip().lower()
    if driver == "array":
        for name in (*_SQL["mysql"], *_SQL["postgres"]):
            if name in given:
                out.ignored.append((PREFIX + name, "Soketi's app manager is the array one"))
        return
    if driver not in _SQL:
        out.ignored.append(
            (PREFIX + "APP_MANAGER_DRIVER", f"{driver!r}: tidings keeps apps in SQL databases")
        )
        return
    host_name, port_name, user_name, password_name, database_name = _SQL[driver]
    scheme, host, port, user, password, database = _SQL_DEFAULTS[driver]
    url = (
        f"{scheme}://{_userinfo(given.get(user_name, user), given.get(password_name, password))}"
        f"{given.get(host_name, host)}:{given.get(port_name, port)}/"
        f"{given.get(database_name, database)}"
    )
    out.settings["database_url"] = url
    for name in ("APP_MANAGER_DRIVER", *_SQL[driver]):
        if name in given:
            out.mapped.append((PREFIX + name, "TIDINGS_DATABASE_URL"))
    table = given.get(f"APP_MANAGER_{driver.upper()}_TABLE", "apps")
    option = "" if table == "apps" else f" --table {table}"
    out.notes.append(
        "tidings keeps its own tables beside Soketi's: import Soketi's apps once with "
        f"`tidings apps import soketi '{url}'{option}`"
    )


def _userinfo(user: str, password: str) -> str:
    if not user and not password:
        return ""
    user = quote(user, safe="")
    return f"{user}:{quote(password, safe='')}@" if password else f"{user}@"


def startup_warning(env: Mapping[str, str]) -> str | None:
    """The one warning ``tidings serve`` prints for ``SOKETI_*`` variables, or ``None``."""
    found = read_soketi_env(env)
    if not found.mapped and not found.ignored:
        return None
    parts = ["SOKETI_* variables are not read by tidings"]
    if found.mapped:
        by_target: dict[str, list[str]] = {}
        for soketi, tidings in found.mapped:
            by_target.setdefault(tidings, []).append(soketi)
        pairs = ", ".join(f"{'+'.join(names)} -> {target}" for target, names in by_target.items())
        parts.append(f"set {pairs}")
    if found.ignored:
        parts.append(f"ignored (no equivalent): {', '.join(name for name, _ in found.ignored)}")
    parts.append("`tidings config from-soketi` prints the tidings.toml")
    return "; ".join(parts)


# -- TOML ---------------------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    if isinstance(value, Mapping):
        items = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + items + " }" if items else "{}"
    raise TypeError(f"no TOML for {value!r}")  # pragma: no cover - values come from above


def _table(values: Mapping[str, Any], webhooks_header: str) -> list[str]:
    lines = [f"{key} = {_toml_value(value)}" for key, value in values.items() if key != "webhooks"]
    for hook in values.get("webhooks") or []:
        lines += ["", webhooks_header]
        lines += [f"{key} = {_toml_value(value)}" for key, value in hook.items()]
    return lines


def to_toml(found: SoketiEnv) -> str:
    """``tidings.toml`` text with the settings of ``found``, and comments for the rest."""
    lines = ["# tidings.toml from Soketi's variables (`tidings config from-soketi`)"]
    for soketi, tidings in found.mapped:
        lines.append(f"# {soketi} -> {tidings}")
    for soketi, reason in found.ignored:
        lines.append(f"# {soketi}: ignored ({reason})")
    for note in found.notes:
        lines.append(f"# {note}")
    settings = dict(found.settings)
    hooks = settings.pop("default_app_webhooks", None)
    lines += ["", *_table(settings, "")]
    if hooks:
        lines.append(f"default_app_webhooks = {_toml_value(hooks)}")
    if found.app is not None:
        lines += ["", "[[apps]]", *_table(found.app.values, "[[apps.webhooks]]")]
        for lost in found.app.unmapped:
            lines.append(f"# not mapped: {lost.field} ({lost.reason})")
    return "\n".join(lines).rstrip() + "\n"
