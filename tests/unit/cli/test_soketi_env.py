"""SOKETI_* variables in tidings' terms (tidings.cli.soketi_env): pure, no I/O."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tidings.cli.soketi_env import read_soketi_env, startup_warning, to_toml
from tidings.config import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No TIDINGS_* from the outside, and a cwd without a tidings.toml."""
    for name in list(os.environ):
        if name.upper().startswith(("TIDINGS_", "SOKETI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def load(toml: str, tmp_path: Path) -> Settings:
    path = tmp_path / "tidings.toml"
    path.write_text(toml)
    return Settings.load(path)


def test_listener_limits_and_timing_variables(tmp_path: Path) -> None:
    """Ports, hosts, KB limits (KiB) and milliseconds (seconds) land on tidings' settings."""
    found = read_soketi_env(
        {
            "SOKETI_PORT": "6002",
            "SOKETI_HOST": "0.0.0.0",
            "SOKETI_DEBUG": "true",
            "SOKETI_METRICS_SERVER_PORT": "9602",
            "SOKETI_EVENT_MAX_SIZE_IN_KB": "50",
            "SOKETI_PRESENCE_MAX_MEMBER_SIZE": "4",
            "SOKETI_PRESENCE_MAX_MEMBERS": "200",
            "SOKETI_EVENT_MAX_BATCH_SIZE": "20",
            "SOKETI_SHUTDOWN_GRACE_PERIOD": "5000",
            "SOKETI_WEBHOOKS_BATCHING_DURATION": "200",
            "PATH": "/usr/bin",  # not Soketi's: not looked at
        }
    )
    assert found.ignored == []
    assert dict(found.mapped)["SOKETI_PORT"] == "TIDINGS_HTTP_PORT"
    settings = load(to_toml(found), tmp_path)
    assert (settings.http_port, settings.http_host, settings.admin_port) == (6002, "0.0.0.0", 9602)
    assert settings.log_level == "debug"
    assert settings.app_default("max_payload_bytes") == 50 * 1024
    assert settings.app_default("max_member_info_bytes") == 4 * 1024
    assert settings.app_default("max_presence_members") == 200
    assert settings.app_default("max_batch_size") == 20
    assert (settings.shutdown_grace_period, settings.webhook_batch_window) == (5.0, 0.2)


def test_redis_adapter_and_mysql_app_manager_become_urls(tmp_path: Path) -> None:
    """DB_REDIS_* with the redis adapter -> broker_url; DB_MYSQL_* -> database_url (+ a note)."""
    found = read_soketi_env(
        {
            "SOKETI_ADAPTER_DRIVER": "redis",
            "SOKETI_DB_REDIS_HOST": "redis.internal",
            "SOKETI_DB_REDIS_PASSWORD": "p@ss",
            "SOKETI_ADAPTER_REDIS_PREFIX": "soketi",
            "SOKETI_APP_MANAGER_DRIVER": "mysql",
            "SOKETI_DB_MYSQL_HOST": "db.internal",
            "SOKETI_DB_MYSQL_USERNAME": "soketi",
            "SOKETI_DB_MYSQL_PASSWORD": "pw",
            "SOKETI_DB_MYSQL_DATABASE": "realtime",
            "SOKETI_APP_MANAGER_MYSQL_TABLE": "soketi_apps",
        }
    )
    assert found.settings["broker_url"] == "redis://:p%40ss@redis.internal:6379/0"
    assert found.settings["database_url"] == "mysql://soketi:pw@db.internal:3306/realtime"
    assert found.settings["redis_prefix"] == "soketi"
    assert "--table soketi_apps" in found.notes[0]
    settings = load(to_toml(found), tmp_path)
    assert settings.database_url == "mysql://soketi:pw@db.internal:3306/realtime"
    assert settings.broker_url == "redis://:p%40ss@redis.internal:6379/0"


def test_postgres_app_manager_takes_soketis_defaults() -> None:
    """Parts of the URL a variable leaves out are Soketi's defaults (user postgres, db main)."""
    found = read_soketi_env(
        {"SOKETI_APP_MANAGER_DRIVER": "postgres", "SOKETI_DB_POSTGRES_HOST": "pg"}
    )
    assert found.settings["database_url"] == "postgresql://postgres:password@pg:5432/main"


def test_the_default_app_variables(tmp_path: Path) -> None:
    """DEFAULT_APP_* map to default_app_*; webhooks keep Soketi's shape."""
    found = read_soketi_env(
        {
            "SOKETI_DEFAULT_APP_ID": "4242",
            "SOKETI_DEFAULT_APP_KEY": "soketi-key",
            "SOKETI_DEFAULT_APP_SECRET": "soketi-secret",
            "SOKETI_DEFAULT_APP_WEBHOOKS": '[{"url": "http://127.0.0.1:8000/hook",'
            ' "event_types": ["channel_occupied"]}]',
        }
    )
    assert found.app is None
    assert ("SOKETI_DEFAULT_APP_KEY", "TIDINGS_DEFAULT_APP_KEY") in found.mapped
    assert "enable_client_messages (false)" in found.notes[0]
    settings = load(to_toml(found), tmp_path)
    (app,) = settings.app_list()
    assert (app.id, app.key, app.secret) == ("4242", "soketi-key", "soketi-secret")
    assert app.enable_client_messages is False  # Soketi's default app refuses them
    assert app.webhooks[0].url == "http://127.0.0.1:8000/hook"


def test_default_app_limits_need_an_apps_table(tmp_path: Path) -> None:
    """A default-app limit has no TIDINGS_* variable: ignored at start, [[apps]] in the TOML."""
    found = read_soketi_env({"SOKETI_DEFAULT_APP_KEY": "k", "SOKETI_DEFAULT_APP_MAX_CONNS": "100"})
    assert found.app is not None and found.mapped == []
    assert {name for name, _ in found.ignored} == {
        "SOKETI_DEFAULT_APP_KEY",
        "SOKETI_DEFAULT_APP_MAX_CONNS",
    }
    (app,) = load(to_toml(found), tmp_path).app_list()
    assert (app.id, app.key, app.secret, app.max_connections) == ("app-id", "k", "app-secret", 100)


def test_what_has_no_equivalent_is_ignored_with_the_reason() -> None:
    """Cluster, NATS, queues, typos; a non-number is named too."""
    found = read_soketi_env(
        {
            "SOKETI_ADAPTER_DRIVER": "nats",
            "SOKETI_QUEUE_DRIVER": "sqs",
            "SOKETI_MODE": "worker",
            "SOKETI_PROT": "1",
            "SOKETI_PORT": "many",
            "SOKETI_DB_MYSQL_HOST": "db",
        }
    )
    reasons = dict(found.ignored)
    assert "tidings nodes share Redis" in reasons["SOKETI_ADAPTER_DRIVER"]
    assert reasons["SOKETI_QUEUE_DRIVER"] == "no tidings equivalent"
    assert reasons["SOKETI_PROT"] == "not a Soketi variable"
    assert reasons["SOKETI_PORT"] == "'many' is not a number"
    assert "array" in reasons["SOKETI_DB_MYSQL_HOST"]
    assert found.mapped == [] and found.settings == {}


def test_one_startup_warning_names_each_variable() -> None:
    """One line: every mapped variable with its TIDINGS_* name, then the ignored ones."""
    warning = startup_warning(
        {
            "SOKETI_PORT": "6002",
            "SOKETI_ADAPTER_DRIVER": "redis",
            "SOKETI_DB_REDIS_HOST": "r",
            "SOKETI_MODE": "full",
            "SOKETI_DEFAULT_APP_SECRET": "s3cr3t-value",
        }
    )
    assert warning is not None and "\n" not in warning
    assert "SOKETI_PORT -> TIDINGS_HTTP_PORT" in warning
    assert "SOKETI_ADAPTER_DRIVER+SOKETI_DB_REDIS_HOST -> TIDINGS_BROKER_URL" in warning
    assert "SOKETI_DEFAULT_APP_SECRET -> TIDINGS_DEFAULT_APP_SECRET" in warning
    assert "ignored (no equivalent): SOKETI_MODE" in warning
    assert "s3cr3t" not in warning  # names only, never values
    assert startup_warning({"HOME": "/root"}) is None
