"""The Laravel Reverb app mapping (tidings.apps.import_reverb): pure, no I/O."""

from __future__ import annotations

import pytest

from tidings.apps.import_reverb import from_reverb, reverb_app_from_env, reverb_apps_from_config
from tidings.apps.importing import Imported
from tidings.apps.manage import parse_create


def fields(imported: Imported) -> dict[str, str]:
    return {u.field: u.reason for u in imported.unmapped}


def test_a_laravel_env_maps_to_a_reverb_app_and_then_a_tidings_app() -> None:
    """REVERB_APP_ID/KEY/SECRET (and the optional limits) become an app."""
    env = {
        "APP_NAME": "Laravel",
        "REVERB_APP_ID": "458213",
        "REVERB_APP_KEY": "reverb-key",
        "REVERB_APP_SECRET": "reverb-secret",
        "REVERB_APP_MAX_CONNECTIONS": "500",
        "REVERB_HOST": "localhost",
    }
    app = reverb_app_from_env(env)
    assert app == {
        "app_id": "458213",
        "key": "reverb-key",
        "secret": "reverb-secret",
        "max_connections": "500",
        "accept_client_events_from": "members",  # config/reverb.php's default
    }
    imported = from_reverb(app)
    assert imported.problem is None and imported.unmapped == () and imported.notes == ()
    assert imported.values == {
        "name": "reverb",
        "id": "458213",
        "key": "reverb-key",
        "secret": "reverb-secret",
        "max_connections": 500,
        "enable_client_messages": True,
    }
    parse_create(imported.values)


def test_an_env_without_reverb_is_refused() -> None:
    with pytest.raises(ValueError, match="no REVERB_APP_ID"):
        reverb_app_from_env({"APP_NAME": "Laravel"})


def test_reverb_config_apps_as_json() -> None:
    """config('reverb'), config('reverb.apps') and the list itself all give the apps."""
    apps = [{"app_id": "1", "key": "k", "secret": "s"}]
    assert reverb_apps_from_config({"provider": "config", "apps": apps}) == apps
    assert reverb_apps_from_config({"default": "reverb", "apps": {"apps": apps}}) == apps
    assert reverb_apps_from_config(apps) == apps
    with pytest.raises(ValueError, match="no Reverb apps"):
        reverb_apps_from_config({"provider": "config"})


def test_a_reverb_php_app_maps_with_what_it_cannot_carry() -> None:
    """config/reverb.php's stock app: origins, message size, client events, and the rest named."""
    app = {
        "key": "rk",
        "secret": "reverb-secret",
        "app_id": 99,
        "options": {"host": "localhost", "port": 443, "scheme": "https", "useTLS": True},
        "allowed_origins": ["laravel.com", "*.example.com"],
        "ping_interval": 60,
        "activity_timeout": 30,
        "max_connections": None,
        "max_message_size": 10000,
        "accept_client_events_from": "members",
        "rate_limiting": {"enabled": True, "max_attempts": 60, "decay_seconds": 60},
        "colour": "red",
    }
    imported = from_reverb(app)
    values = imported.values
    assert values["id"] == "99" and values["max_client_event_bytes"] == 10000
    assert values["allowed_origins"] == [
        "*://laravel.com",
        "*://laravel.com:*",
        "*://*.example.com",
        "*://*.example.com:*",
    ]
    assert values["enable_client_messages"] is True and "max_connections" not in values
    reasons = fields(imported)
    assert set(reasons) == {"ping_interval", "rate_limiting", "options", "colour"}
    assert "activity_timeout" in reasons["ping_interval"]
    assert imported.notes == ()
    parse_create(values)


@pytest.mark.parametrize(
    ("accept", "enabled", "noted"),
    [(None, True, True), ("all", True, True), ("members", True, False), ("none", False, False)],
)
def test_reverb_client_events(accept: str | None, enabled: bool, noted: bool) -> None:
    """accept_client_events_from: all/members allow them (tidings: members only), else off."""
    imported = from_reverb(
        {"app_id": "1", "key": "k", "secret": "s" * 8, "accept_client_events_from": accept}
    )
    assert imported.values["enable_client_messages"] is enabled
    assert bool(imported.notes) is noted


def test_reverb_wildcard_origin_is_any_origin_and_a_changed_timeout_is_reported() -> None:
    imported = from_reverb(
        {"app_id": "1", "key": "k", "secret": "s" * 8, "allowed_origins": ["*"],
         "activity_timeout": 120}
    )  # fmt: skip
    assert imported.values["allowed_origins"] == []
    assert "TIDINGS_ACTIVITY_TIMEOUT" in fields(imported)["activity_timeout"]


def test_a_reverb_app_without_a_secret_is_a_problem() -> None:
    assert from_reverb({"app_id": "1", "key": "k"}).problem == "no secret in the Reverb app"
