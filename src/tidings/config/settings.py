"""The :class:`Settings` model: every tidings setting, and its one loader.

See :mod:`tidings.config` for the precedence of the sources. Field names are the
TOML keys; ``TIDINGS_`` + the upper-cased name is the environment variable. The
App-derived settings come from :mod:`tidings.config.app_settings`; messages for
what is wrong in a load, from :mod:`tidings.config.diagnostics`; the TOML file
and the environment's unknown names, from :mod:`tidings.config.sources`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from tidings.apps.base import App, app_fields, build_app
from tidings.apps.urls import SCHEMES as DATABASE_SCHEMES
from tidings.apps.urls import masked_url
from tidings.config.app_settings import LIMIT_FIELDS, AppConfig, global_app_fields
from tidings.config.diagnostics import describe, read_toml, strip_unknown, suggest
from tidings.config.sources import (
    DEFAULT_CONFIG_FILE,
    ENV_PREFIX,
    TOML_DATA,
    TomlSource,
    config_file,
    unknown_env,
)
from tidings.errors import ConfigError
from tidings.redis_url import check_broker_url
from tidings.security import is_loopback

__all__ = [
    "DEFAULT_APP_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "LOG_LEVELS",
    "Settings",
]

DEFAULT_APP_KEY = "app-key"
DEFAULT_APP_SECRET = "app-secret"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class _Settings(BaseSettings):
    """Every tidings setting. Build it with :meth:`Settings.load`.

    Field names are the TOML keys; ``TIDINGS_`` + the upper-cased name is the
    environment variable. ``tidings config env`` lists them all. The settings
    derived from :class:`~tidings.apps.base.App` (limits, the default app's
    flags) are added by ``Settings`` below; read them with :meth:`app_default`.
    """

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", coerce_numbers_to_str=True
    )

    config: Path | None = Field(None, description="TOML file to read (default ./tidings.toml).")
    http_host: str = Field("127.0.0.1", description="Address of the WebSocket + HTTP API listener.")
    http_port: int = Field(6001, ge=0, le=65535, description="Port of that listener (0 = any).")
    public_url: str | None = Field(
        None, description="URL clients reach the server at (behind a proxy), for snippets."
    )
    path_prefix: str = Field("", description="Path prefix for every route, e.g. /realtime.")
    admin_host: str = Field("127.0.0.1", description="Address of the admin listener.")
    admin_port: int = Field(9601, ge=0, le=65535, description="Port of the admin listener.")
    admin_password: str | None = Field(
        None, description="Password for the admin listener (admin API, /metrics).", repr=False
    )
    broker_url: str = Field(
        "memory://",
        description=(
            "memory:// (single node), redis://host:port/db (cluster), or several "
            "comma-separated redis:// URLs (a sharded cluster), or redis+cluster://host:port "
            "(a Redis Cluster)."
        ),
        repr=False,  # redis://user:password@host carries a password
    )
    node_id: str | None = Field(None, description="This node's id in a cluster (default random).")
    redis_prefix: str = Field(
        "tidings", min_length=1, description="Namespace of every Redis key and channel."
    )
    broker_buffer_bytes: int = Field(
        16 * 1024 * 1024,
        ge=0,
        description="Bytes of publications a node holds while Redis is down (then 503).",
    )
    history_max_bytes: int = Field(
        64 * 1024 * 1024,
        ge=1024,
        description="Bytes of channel history the in-memory broker keeps, all channels together "
        "(past it the least recently published channel loses its oldest events; docs/history.md).",
    )
    cluster_heartbeat_ttl: float = Field(
        10.0,
        ge=1.0,
        le=300.0,
        description="Seconds after its last heartbeat a node counts as dead (its members go).",
    )
    database_url: str = Field(
        "sqlite:///tidings.sqlite3",
        description="App store of `tidings apps`: sqlite:///file, postgresql://... or "
        "mysql://... ('': none).",
    )
    database_poll_interval: float = Field(
        0.5,
        ge=0.05,
        le=60.0,
        description="Seconds between checks of the app database for changes.",
    )
    default_app_id: str = Field("1", min_length=1, description="Id of the default app.")
    default_app_key: str = Field(DEFAULT_APP_KEY, min_length=1, description="Default app key.")
    default_app_secret: str = Field(
        DEFAULT_APP_SECRET, min_length=1, description="Default app secret.", repr=False
    )
    apps: list[AppConfig] = Field(
        default_factory=list, description="Apps ([[apps]] tables); replace the default app."
    )
    activity_timeout: int = Field(
        30, ge=1, description="Seconds of silence before a ping (sent to clients)."
    )
    handshake_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds to finish TLS + the HTTP upgrade (and HTTP keep-alive idle).",
    )
    listen_backlog: int = Field(1024, ge=1, description="TCP listen backlog.")
    request_body_timeout: float = Field(
        10.0, gt=0, description="Seconds an HTTP request may take to send its body (then 408)."
    )
    max_write_buffer_bytes: int = Field(
        1048576, ge=1024, description="Unsent bytes that mark a slow consumer (then 4100)."
    )
    shutdown_grace_period: float = Field(
        10.0, ge=0, description="Seconds clients get to leave on shutdown."
    )
    log_level: str = Field("info", description="debug, info, warning, error or critical.")
    log_format: Literal["auto", "pretty", "json"] = Field(
        "auto", description="auto (pretty on a TTY, else JSON), pretty or json."
    )
    tls_cert: Path | None = Field(None, description="PEM certificate file (with tls_key).")
    tls_key: Path | None = Field(None, description="PEM private key file (with tls_cert).")
    uvloop: bool = Field(
        False,
        description="Run on uvloop (uvloop extra); slower in our bench, see docs/benchmarks.md.",
    )
    workers: int = Field(1, ge=1, description="Processes sharing the port (SO_REUSEPORT).")
    webhook_batch_window: float = Field(
        0.1, gt=0, le=10, description="Seconds webhook events wait to share a POST."
    )
    webhook_batch_size: int = Field(
        100, ge=1, le=1000, description="Webhook events in one POST at most."
    )
    webhook_queue_limit: int = Field(
        10000,
        ge=1,
        description="Webhook events one app may have waiting (more are dropped and counted).",
    )
    webhook_log_size: int = Field(
        200, ge=1, le=10000, description="Deliveries per app kept in the webhook delivery log."
    )
    reuse_port: bool = Field(
        False,
        description="SO_REUSEPORT on the listeners, so a new tidings can take over the port.",
    )

    _warnings: list[str] = PrivateAttr(default_factory=list)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags (init kwargs) > env > TOML > defaults; no dotenv, no secrets dir."""
        return init_settings, env_settings, TomlSource(settings_cls)

    @field_validator(
        "public_url", "node_id", "admin_password", "tls_cert", "tls_key", mode="before"
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("broker_url")
    @classmethod
    def _check_broker_url(cls, value: str) -> str:
        return check_broker_url(value)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and not value.startswith(DATABASE_SCHEMES):
            raise ValueError(
                f"unsupported database URL {masked_url(value)!r}: use sqlite:///path/to/file, "
                "postgresql://user@host:5432/db, mysql://user:password@host:3306/db "
                "(or mariadb://) or '' (config apps only)"
            )
        return value

    @field_validator("public_url")
    @classmethod
    def _check_public_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise ValueError(f"{value!r} is not a URL like https://realtime.example.com")
        return value.rstrip("/")

    @field_validator("path_prefix")
    @classmethod
    def _normalise_path_prefix(cls, value: str) -> str:
        value = value.strip().strip("/")
        return f"/{value}" if value else ""

    @field_validator("log_level", mode="before")
    @classmethod
    def _check_log_level(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        level = value.strip().lower()
        level = "warning" if level == "warn" else level
        if level not in LOG_LEVELS:
            raise ValueError(f"unknown log level {value!r}: use one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_cross_fields(self) -> Settings:
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: set both or neither")
        for name in ("tls_cert", "tls_key"):
            path: Path | None = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} file {str(path)!r} does not exist")
        for attr in ("id", "key"):
            seen: set[str] = set()
            for app in self.apps:
                value = getattr(app, attr)
                if value in seen:
                    raise ValueError(f"two [[apps]] share the {attr} {value!r}; {attr}s are unique")
                seen.add(value)
        return self

    # -- loading ---------------------------------------------------------------

    @classmethod
    def load(cls, config_path: Path | None = None, **overrides: Any) -> Settings:
        """The one entry point: merge flags, env, TOML and defaults, then validate.

        Args:
            config_path: TOML file to read; else ``overrides["config"]``, else
                ``TIDINGS_CONFIG``, else ``./tidings.toml`` when it exists.
            **overrides: setting values that beat every other source (CLI
                flags). ``None`` values are ignored, so flags left unset fall
                through to the lower sources.

        Returns:
            Validated settings; :attr:`warnings` lists unknown keys.

        Raises:
            ConfigError: an unknown override, an unreadable or malformed TOML
                file, or an invalid value (the message names key and source).
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        unknown = sorted(set(given) - set(cls.model_fields))
        if unknown:
            name = unknown[0]
            raise ConfigError(f"unknown setting {name!r}{suggest(name, cls._keys(), '')}")
        path = config_file(config_path or given.pop("config", None))
        warnings = unknown_env(cls._keys())
        toml: dict[str, Any] = {}
        dropped: dict[int, list[str]] = {}
        if path is not None:
            toml = read_toml(path)
            app_keys = list(AppConfig.model_fields)
            warnings += strip_unknown(toml, cls._keys(), app_keys, str(path), dropped)
            given["config"] = path
        token = TOML_DATA.set(toml)
        try:
            settings = cls(**given)
        except ValidationError as exc:
            problem = describe(
                exc,
                given,
                toml,
                path,
                dropped,
                fields=_Settings.model_fields,
                env_prefix=ENV_PREFIX,
            )
            raise ConfigError(problem) from None
        except SettingsError as exc:
            raise ConfigError(f"invalid environment: {exc}") from None
        finally:
            TOML_DATA.reset(token)
        settings._warnings = warnings
        return settings

    @classmethod
    def _keys(cls) -> list[str]:
        return list(cls.model_fields)

    # -- derived views -----------------------------------------------------------

    @property
    def warnings(self) -> list[str]:
        """Unknown ``TIDINGS_*`` variables and TOML keys, each with a suggestion."""
        return self._warnings

    def app_default(self, name: str) -> Any:
        """The global value of an App-derived setting (a limit apps inherit, or a
        ``default_app_*`` flag), by name: these fields are generated, so typed access
        goes through here."""
        return getattr(self, name)

    def inherited(self) -> dict[str, Any]:
        """The values apps take for the limits they leave unset."""
        return {name: getattr(self, name) for name in LIMIT_FIELDS}

    def app_list(self) -> list[App]:
        """The configured apps: the ``[[apps]]`` tables, or else the default app alone.

        Limits an app leaves unset take the global defaults.
        """
        inherited = self.inherited()
        if self.apps:
            return [build_app(conf.model_dump(), inherited) for conf in self.apps]
        values: dict[str, Any] = {
            "id": self.default_app_id,
            "key": self.default_app_key,
            "secret": self.default_app_secret,
            "name": "default",
        }
        for f in app_fields():
            if f.setting.default_app:
                values[f.name] = getattr(self, f"default_app_{f.name}")
        return [build_app(values, inherited)]

    @property
    def uses_default_credentials(self) -> bool:
        """True when an app still has the published ``app-secret`` (or the stock key+secret)."""
        return any(app.secret == DEFAULT_APP_SECRET for app in self.app_list())

    @property
    def is_public_bind(self) -> bool:
        """True when the main listener is reachable from other machines (not loopback)."""
        return not is_loopback(self.http_host)


if TYPE_CHECKING:
    Settings = _Settings
else:
    Settings = create_model(
        "Settings",
        __base__=_Settings,
        __doc__=_Settings.__doc__,
        __module__=__name__,
        **global_app_fields(),
    )
