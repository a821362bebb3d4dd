"""Every app setting is defined once, on App; the views derived from it cover it all."""

from __future__ import annotations

import dataclasses
import inspect

from tidings.apps.base import App, Role, app_fields, build_app, session_arguments
from tidings.config import LIMIT_FIELDS, AppConfig, Settings
from tidings.protocol.piesocket.session import open_session
from tidings.protocol.pusher.session import SessionPolicy
from tidings.typing import AppId, AppKey
from tidings.wires.pusher import session_policy

APP = App(id=AppId("7"), key=AppKey("k"), secret="s", previous_secret="old")


def test_config_tables_take_every_field_but_the_internal_ones() -> None:
    """[[apps]] keys are exactly App's non-internal fields."""
    expected = {f.name for f in app_fields() if f.setting.role is not Role.INTERNAL}
    assert set(AppConfig.model_fields) == expected
    assert "previous_secret" not in AppConfig.model_fields


def test_inherited_limits_and_default_app_flags_are_global_settings() -> None:
    """Each inherited limit is a TIDINGS_* setting; each default_app flag a default_app_* one."""
    inherited = {f.name for f in app_fields() if f.setting.inherits}
    assert inherited == set(LIMIT_FIELDS)
    assert inherited <= set(Settings.model_fields)
    flags = {f"default_app_{f.name}" for f in app_fields() if f.setting.default_app}
    assert flags == {
        "default_app_enable_client_messages",
        "default_app_enable_subscription_count",
        "default_app_webhooks",
        "default_app_history_channels",
        "default_app_history_size",
        "default_app_history_ttl",
    }
    assert flags <= set(Settings.model_fields)
    for name in inherited:
        assert Settings.model_fields[name].description


def test_session_policy_is_fed_every_field_it_has() -> None:
    """No SessionPolicy field is left to its default by session_policy()."""
    fed = set(session_arguments(APP, "policy"))
    assert fed == {f.name for f in dataclasses.fields(SessionPolicy)}
    policy = session_policy(APP)
    assert (policy.key, policy.secret, policy.previous_secret) == ("k", "s", "old")
    assert policy.secrets == ("s", "old")


def test_piesocket_session_is_fed_every_app_keyword() -> None:
    """open_session's app-derived keywords are exactly those the metadata names."""
    params = inspect.signature(open_session).parameters
    per_connection = {"channel", "query", "jwt_header", "socket_id", "now"}
    assert set(session_arguments(APP, "piesocket")) == set(params) - per_connection


def test_build_app_inherits_unset_limits_and_keeps_given_ones() -> None:
    """None or missing inherited limits take the global value; others keep theirs."""
    inherited = {name: 1234 for name in LIMIT_FIELDS}
    app = build_app({"id": "1", "key": "k", "secret": "s", "max_batch_size": 3}, inherited)
    assert app.max_batch_size == 3
    assert app.max_payload_bytes == 1234
    assert app.max_connections is None
    assert build_app({"id": "1", "key": "k", "secret": "s", "allowed_origins": ["a"]}, inherited)
    assert app.secrets == ("s",)


def test_keeps_history_by_prefix_star_and_never_internal_channels() -> None:
    """history_channels prefixes select channels; "*" every one but the server's own."""
    assert not APP.keeps_history("chat")
    some = dataclasses.replace(APP, history_channels=("chat-", "private-chat-"))
    assert some.keeps_history("chat-1") and some.keeps_history("private-chat-x")
    assert not some.keeps_history("news")
    every = dataclasses.replace(APP, history_channels=("*",))
    assert every.keeps_history("news") and every.keeps_history("presence-x")
    assert not every.keeps_history("#server-to-user-1")
