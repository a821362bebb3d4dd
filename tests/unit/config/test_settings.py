"""Settings: precedence, warnings for unknown keys, readable errors, app mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tidings.apps.base import App
from tidings.config import Settings
from tidings.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_match_the_design() -> None:
    """Without any source, the defaults are DESIGN.md §2's."""
    s = Settings.load()
    assert (s.http_host, s.http_port) == ("127.0.0.1", 6001)
    assert (s.admin_host, s.admin_port) == ("127.0.0.1", 9601)
    assert s.broker_url == "memory://"
    assert s.app_default("max_payload_bytes") == 102400
    assert s.activity_timeout == 30
    assert s.config is None
    assert s.warnings == []


def test_precedence_flags_over_env_over_toml_over_defaults(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each setting comes from the highest source that sets it."""
    toml = write(
        tmp_path / "conf.toml",
        'http_port = 7000\nadmin_port = 7001\nlog_level = "debug"\n',
    )
    monkeypatch.setenv("TIDINGS_ADMIN_PORT", "7002")
    monkeypatch.setenv("TIDINGS_LOG_LEVEL", "warning")
    s = Settings.load(toml, log_level="error", http_host=None)
    assert s.log_level == "error"  # flag beats env and TOML
    assert s.admin_port == 7002  # env beats TOML
    assert s.http_port == 7000  # TOML beats the default
    assert s.http_host == "127.0.0.1"  # a None flag falls through to the default
    assert s.config == toml


def test_tidings_config_env_selects_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """TIDINGS_CONFIG names the TOML file when no path is passed."""
    toml = write(tmp_path / "elsewhere.toml", "http_port = 7100\n")
    monkeypatch.setenv("TIDINGS_CONFIG", str(toml))
    assert Settings.load().http_port == 7100


def test_tidings_toml_in_cwd_is_read_by_default(tmp_path: Path) -> None:
    """./tidings.toml is picked up when nothing else names a file."""
    write(tmp_path / "tidings.toml", "http_port = 7200\n")
    s = Settings.load()
    assert s.http_port == 7200
    assert s.config == Path("tidings.toml")


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    """An explicitly named file that does not exist is reported with its path."""
    with pytest.raises(ConfigError, match=r"config file '.*nope\.toml' not found"):
        Settings.load(tmp_path / "nope.toml")


def test_unknown_env_variable_warns_with_suggestion(monkeypatch: pytest.MonkeyPatch) -> None:
    """A misspelt TIDINGS_* variable yields a warning naming the closest setting."""
    monkeypatch.setenv("TIDINGS_HTTP_PROT", "1")
    s = Settings.load()
    assert s.warnings == ["unknown setting TIDINGS_HTTP_PROT; did you mean TIDINGS_HTTP_PORT?"]


def test_kubernetes_service_links_and_test_knobs_do_not_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """TIDINGS_PORT=tcp://... (Kubernetes) and TIDINGS_TEST_* are not settings and not typos."""
    monkeypatch.setenv("TIDINGS_PORT", "tcp://10.0.0.1:6001")
    monkeypatch.setenv("TIDINGS_PORT_6001_TCP_ADDR", "10.0.0.1")
    monkeypatch.setenv("TIDINGS_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("TIDINGS_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    s = Settings.load()
    assert s.warnings == []
    assert s.http_port == 6001


def test_unknown_toml_keys_warn_with_suggestion(tmp_path: Path) -> None:
    """Unknown TOML keys, top level and in [[apps]], are dropped with a warning each."""
    toml = write(
        tmp_path / "t.toml",
        'admin_prot = 1\n[[apps]]\nid = "7"\nkey = "k"\nsecret = "s"\nsecrte = "x"\n',
    )
    s = Settings.load(toml)
    assert s.warnings == [
        f"unknown setting 'admin_prot' in {toml}; did you mean admin_port?",
        f"unknown key 'secrte' in [[apps]] #1 of {toml}; did you mean secret?",
    ]
    assert s.admin_port == 9601


def test_invalid_env_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad env value is a one-line ConfigError naming the variable and the value."""
    monkeypatch.setenv("TIDINGS_HTTP_PORT", "abc")
    with pytest.raises(ConfigError) as info:
        Settings.load()
    message = str(info.value)
    assert message.startswith("invalid TIDINGS_HTTP_PORT: ")
    assert "'abc'" in message
    assert "\n" not in message


def test_invalid_toml_value_names_file_and_key(tmp_path: Path) -> None:
    """A bad TOML value names the key and the file."""
    toml = write(tmp_path / "t.toml", 'http_port = "x"\n')
    with pytest.raises(ConfigError, match=rf"^invalid http_port in {toml}: .*integer"):
        Settings.load(toml)


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error is reported with the file and tomllib's line/column."""
    toml = write(tmp_path / "t.toml", "a = 1\nb = ?\n")
    with pytest.raises(ConfigError, match=rf"^{toml}: invalid TOML: .*line 2"):
        Settings.load(toml)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"broker_url": "nats://x"}, "unsupported broker URL 'nats://x'"),
        ({"log_level": "loud"}, "unknown log level 'loud'"),
        ({"log_format": "xml"}, "'auto', 'pretty' or 'json'"),
        ({"workers": 0}, "greater than or equal to 1"),
        ({"http_port": 70000}, "less than or equal to 65535"),
        ({"public_url": "example.com"}, "is not a URL like https://"),
        ({"tls_cert": "/etc/hostname"}, "tls_cert and tls_key go together"),
        ({"tls_cert": "/nonexistent.pem", "tls_key": "/nonexistent.key"}, "does not exist"),
        ({"http_prot": 1}, "unknown setting 'http_prot'; did you mean http_port?"),
        (
            {"database_url": "mssql://u:hunter2@h/db"},
            "unsupported database URL 'mssql://u:***@h/db'",
        ),
    ],
)
def test_invalid_overrides_are_config_errors(overrides: dict[str, Any], expected: str) -> None:
    """Each invalid value is refused with a message saying what is wrong."""
    with pytest.raises(ConfigError) as info:
        Settings.load(**overrides)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///a.sqlite3", "postgresql://u@h/db", "mysql://u:p@h:3306/db", "mariadb://u@h/db", ""],
)
def test_database_urls_of_every_store_are_accepted(url: str) -> None:
    """SQLite, PostgreSQL, MySQL and MariaDB URLs (and '' for config apps only) load."""
    assert Settings.load(database_url=url).database_url == url


def test_redis_broker_urls_are_accepted() -> None:
    """redis:// and rediss:// are valid broker URLs."""
    assert Settings.load(broker_url="redis://127.0.0.1:6379/0").broker_url.startswith("redis")
    assert Settings.load(broker_url="rediss://h:6380/1").broker_url.startswith("rediss")


def test_normalisations(monkeypatch: pytest.MonkeyPatch) -> None:
    """path_prefix gains one leading slash and loses trailing ones; empty env unsets."""
    monkeypatch.setenv("TIDINGS_PUBLIC_URL", "")
    s = Settings.load(path_prefix="realtime/", log_level="WARN")
    assert s.path_prefix == "/realtime"
    assert s.public_url is None
    assert s.log_level == "warning"


def test_default_app_is_the_only_app_without_apps_tables() -> None:
    """No [[apps]]: app_list() is the default app with the global limits."""
    s = Settings.load(default_app_enable_client_messages=False, max_batch_size=5)
    (app,) = s.app_list()
    assert (app.id, app.key, app.secret) == ("1", "app-key", "app-secret")
    assert app.enable_client_messages is False
    assert app.max_batch_size == 5


def test_apps_tables_replace_the_default_app(tmp_path: Path) -> None:
    """[[apps]] become the apps; unset limits take the global values, set ones win."""
    toml = write(
        tmp_path / "t.toml",
        "max_presence_members = 50\n"
        '[[apps]]\nid = 10\nkey = "k1"\nsecret = "s1"\nmax_batch_size = 3\n'
        'allowed_origins = ["https://*.example.com"]\n'
        '[[apps]]\nid = "11"\nkey = "k2"\nsecret = "s2"\nenabled = false\n'
        "max_connections = 20\n",
    )
    apps = Settings.load(toml).app_list()
    assert [a.id for a in apps] == ["10", "11"]  # the integer id is coerced to a string
    first, second = apps
    assert first == App(
        id=first.id,
        key=first.key,
        secret="s1",
        max_batch_size=3,
        max_presence_members=50,
        allowed_origins=("https://*.example.com",),
    )
    assert second.enabled is False
    assert second.max_connections == 20
    assert second.max_batch_size == 10
    assert second.max_presence_members == 50


def test_client_event_rate_limit_global_env_and_per_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pusher's 10/s by default; 0 lifts it; an [[apps]] table may set its own."""
    assert Settings.load().app_list()[0].max_client_events_per_second == 10
    monkeypatch.setenv("TIDINGS_MAX_CLIENT_EVENTS_PER_SECOND", "0")
    assert Settings.load().app_list()[0].max_client_events_per_second == 0
    toml = write(
        tmp_path / "t.toml",
        '[[apps]]\nid = 1\nkey = "k1"\nsecret = "s1"\nmax_client_events_per_second = 50\n'
        '[[apps]]\nid = 2\nkey = "k2"\nsecret = "s2"\n',
    )
    first, second = Settings.load(toml).app_list()
    assert (first.max_client_events_per_second, second.max_client_events_per_second) == (50, 0)
    with pytest.raises(ConfigError, match="max_client_events_per_second"):
        Settings.load(max_client_events_per_second=-1)


def test_duplicate_app_ids_are_refused(tmp_path: Path) -> None:
    """Two [[apps]] with one id cannot both be looked up: a ConfigError."""
    toml = write(
        tmp_path / "t.toml",
        '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s"\n'
        '[[apps]]\nid = "1"\nkey = "b"\nsecret = "s"\n',
    )
    with pytest.raises(ConfigError, match="share the id '1'"):
        Settings.load(toml)


def test_app_missing_secret_is_named(tmp_path: Path) -> None:
    """A [[apps]] table without a secret names the field and the table, counted from 1."""
    toml = write(tmp_path / "t.toml", '[[apps]]\nid = "1"\nkey = "a"\n')
    with pytest.raises(ConfigError) as caught:
        Settings.load(toml)
    assert caught.value.message == (
        f"invalid [[apps]] #1 in {toml}: the required key 'secret' is missing"
    )


def test_typo_in_a_required_app_key_suggests_the_key(tmp_path: Path) -> None:
    """`secrte` for `secret` in the second [[apps]]: the error names the typo and the fix."""
    toml = write(
        tmp_path / "t.toml",
        '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s"\n'
        '[[apps]]\nid = "2"\nkey = "b"\nsecrte = "s"\n',
    )
    with pytest.raises(ConfigError) as caught:
        Settings.load(toml)
    assert caught.value.message == (
        f"invalid [[apps]] #2 in {toml}: the required key 'secret' is missing "
        "('secrte' is not a key: did you mean secret?)"
    )


def test_single_bracket_apps_table_gets_the_double_brackets(tmp_path: Path) -> None:
    """`[apps]` (one table) instead of `[[apps]]` (a list of tables) says how to write it."""
    toml = write(tmp_path / "t.toml", '[apps]\nid = "1"\nkey = "a"\nsecret = "s"\n')
    with pytest.raises(ConfigError, match=r"write \[\[apps\]\] \(double brackets\)"):
        Settings.load(toml)


def test_bad_app_value_is_numbered_from_one(tmp_path: Path) -> None:
    """A bad value in the first [[apps]] is reported as #1 with its key."""
    toml = write(
        tmp_path / "t.toml", '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s"\nmax_connections = 0\n'
    )
    with pytest.raises(ConfigError, match=r"invalid \[\[apps\]\] #1 key 'max_connections' in "):
        Settings.load(toml)


def test_history_settings_out_of_range_name_the_key(tmp_path: Path) -> None:
    """history_size/history_ttl bounds hold in [[apps]] tables and the default app's env."""
    toml = write(
        tmp_path / "t.toml", '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s"\nhistory_ttl = 86401\n'
    )
    with pytest.raises(ConfigError, match=r"\[\[apps\]\] #1 key 'history_ttl'"):
        Settings.load(toml)
    with pytest.raises(ConfigError, match="default_app_history_size"):
        Settings.load(default_app_history_size=1001)


def test_default_app_history_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TIDINGS_DEFAULT_APP_HISTORY_* reach the default app; the list is JSON."""
    monkeypatch.setenv("TIDINGS_DEFAULT_APP_HISTORY_CHANNELS", '["chat-", "news"]')
    monkeypatch.setenv("TIDINGS_DEFAULT_APP_HISTORY_SIZE", "20")
    (app,) = Settings.load().app_list()
    assert app.history_channels == ("chat-", "news") and app.history_size == 20
    assert app.history_ttl == 120


@pytest.mark.parametrize(
    ("host", "public"),
    [("127.0.0.1", False), ("localhost", False), ("::1", False), ("0.0.0.0", True), ("::", True)],
)
def test_is_public_bind(host: str, public: bool) -> None:
    """Only loopback addresses count as private."""
    assert Settings.load(http_host=host).is_public_bind is public


def test_uses_default_credentials() -> None:
    """The published app-secret counts as default credentials; a fresh secret does not."""
    assert Settings.load().uses_default_credentials is True
    assert Settings.load(default_app_secret="f" * 64).uses_default_credentials is False
