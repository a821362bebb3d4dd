"""The Soketi app mapping (tidings.apps.import_soketi): pure, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from tidings.apps.import_soketi import from_soketi, soketi_app_from_env, soketi_apps_from_config
from tidings.apps.importing import Imported
from tidings.apps.manage import parse_create

# A row of Soketi's MySQL/PostgreSQL app manager, as tests/fixtures/mysql_schema.sql has it.
SOKETI_ROW: dict[str, Any] = {
    "id": "123",
    "key": "soketi-key",
    "secret": "soketi-secret",
    "max_connections": 200,
    "enabled": 1,
    "enable_client_messages": 0,
    "max_backend_events_per_sec": -1,
    "max_client_events_per_sec": 20,
    "max_read_req_per_sec": -1,
    "webhooks": '[{"url": "http://127.0.0.1:9/hook", "event_types": ["channel_occupied"]}]',
    "max_presence_members_per_channel": None,
    "max_presence_member_size_in_kb": None,
    "max_channel_name_length": None,
    "max_event_channels_at_once": None,
    "max_event_name_length": None,
    "max_event_payload_in_kb": None,
    "max_event_batch_size": None,
    "enable_user_authentication": 0,
}


def fields(imported: Imported) -> dict[str, str]:
    return {u.field: u.reason for u in imported.unmapped}


def test_a_soketi_table_row_maps_to_a_valid_create_body() -> None:
    """Every column of Soketi's DDL maps; -1 means no limit; NULL limits are inherited."""
    imported = from_soketi(SOKETI_ROW)
    assert imported.problem is None and imported.unmapped == () and imported.notes == ()
    assert imported.values == {
        "name": "soketi",
        "id": "123",
        "key": "soketi-key",
        "secret": "soketi-secret",
        "max_connections": 200,
        "enabled": True,
        "enable_client_messages": False,
        "max_backend_events_per_second": 0,
        "max_client_events_per_second": 20,
        "max_read_requests_per_second": 0,
        "webhooks": [{"url": "http://127.0.0.1:9/hook", "event_types": ["channel_occupied"]}],
    }
    assert parse_create(imported.values)["webhooks"][0]["url"] == "http://127.0.0.1:9/hook"


def test_soketi_limits_in_kb_and_counts_are_converted() -> None:
    """KB are KiB; the presence, channel and batch limits land on tidings' names."""
    row = {
        **SOKETI_ROW,
        "max_connections": -1,
        "max_presence_members_per_channel": 50,
        "max_presence_member_size_in_kb": 1.5,
        "max_event_channels_at_once": 20,
        "max_event_name_length": 120,
        "max_event_payload_in_kb": 64,
        "max_event_batch_size": 5,
    }
    values = from_soketi(row).values
    assert "max_connections" not in values  # -1: no limit
    assert (values["max_presence_members"], values["max_member_info_bytes"]) == (50, 1536)
    assert (values["max_channels_per_event"], values["max_event_name_length"]) == (20, 120)
    assert (values["max_payload_bytes"], values["max_batch_size"]) == (65536, 5)
    parse_create(values)  # valid as a create body


def test_soketi_json_config_apps_use_camel_case() -> None:
    """The array app manager's camelCase (and DynamoDB's PascalCase) spellings map alike."""
    camel = from_soketi(
        {
            "id": 7,
            "key": "k7",
            "secret": "secret-7",
            "enableClientMessages": True,
            "maxConnections": "10",
            "maxClientEventsPerSecond": -1,
        }
    )
    assert camel.values["id"] == "7" and camel.values["enable_client_messages"] is True
    assert camel.values["max_connections"] == 10
    assert camel.values["max_client_events_per_second"] == 0
    pascal = from_soketi({"AppId": "8", "AppKey": "k8", "AppSecret": "secret-8", "Enabled": False})
    assert (pascal.values["id"], pascal.values["enabled"]) == ("8", False)


def test_what_tidings_lacks_is_reported_with_the_reason() -> None:
    """Channel name limits, required sign-in, Lambda webhooks, zeros and unknown columns."""
    row = {
        **SOKETI_ROW,
        "max_channel_name_length": 100,
        "enable_user_authentication": 1,
        "max_read_req_per_sec": 0,
        "max_connections": 0,
        "created_at": "2024-01-01",
        "webhooks": [
            {"url": "http://127.0.0.1:9/a", "headers": {"X-A": "1"}, "lambda": {"async": True}},
            {"lambda_function": "my-fn", "event_types": ["member_added"]},
        ],
    }
    imported = from_soketi(row)
    reasons = fields(imported)
    assert "200 characters" in reasons["max_channel_name_length"]
    assert "sign in" in reasons["enable_user_authentication"]
    assert "0 means no limit in tidings" in reasons["max_read_req_per_sec"]
    assert "lets no client connect" in reasons["max_connections"]
    assert reasons["created_at"] == "not a Soketi app setting"
    assert "Lambda" in reasons["webhooks[0].lambda"]
    assert "AWS Lambda webhook" in reasons["webhooks[1]"]
    assert imported.values["webhooks"] == [{"url": "http://127.0.0.1:9/a", "headers": {"X-A": "1"}}]
    assert "max_read_requests_per_second" not in imported.values
    assert imported.problem is None
    parse_create(imported.values)


def test_soketi_default_channel_name_limit_and_off_flags_lose_nothing() -> None:
    """A value tidings already has (200 characters, no sign-in) is not reported."""
    row = {**SOKETI_ROW, "max_channel_name_length": 200, "enable_user_authentication": False}
    assert from_soketi(row).unmapped == ()


@pytest.mark.parametrize(
    ("webhooks", "reason"),
    [("not json", "not valid JSON"), ('{"url": "x"}', "not a list"), ([3], "not a webhook table")],
)
def test_unreadable_soketi_webhooks_are_reported(webhooks: Any, reason: str) -> None:
    """Webhooks Soketi itself would ignore are reported, not imported."""
    imported = from_soketi({**SOKETI_ROW, "webhooks": webhooks})
    assert any(reason in u.reason for u in imported.unmapped)
    assert imported.values.get("webhooks", []) == []


def test_a_soketi_app_without_credentials_is_a_problem() -> None:
    """No key or secret: the app cannot be imported, and the problem names what is missing."""
    assert from_soketi({"id": "1", "key": ""}).problem == "no key or secret in the Soketi app"


def test_a_non_numeric_soketi_id_gets_a_note() -> None:
    """Soketi's app-id works for pusher-js but not for the PyPI SDK: a note says so."""
    imported = from_soketi({"id": "app-id", "key": "app-key", "secret": "app-secret"})
    assert imported.problem is None
    assert "PyPI pusher SDK" in imported.notes[0]


@pytest.mark.parametrize(
    "config",
    [
        {"appManager.array.apps": [{"id": "1"}]},
        {"appManager": {"array": {"apps": [{"id": "1"}]}}},
        {"appManager.array": {"apps": [{"id": "1"}]}},
        {"debug": True, "appManager": {"driver": "array", "array.apps": [{"id": "1"}]}},
    ],
)
def test_soketi_config_apps_are_found_dotted_or_nested(config: dict[str, Any]) -> None:
    """Soketi reads each top-level key as a dotted path: every spelling finds the apps."""
    assert soketi_apps_from_config(config) == [{"id": "1"}]


@pytest.mark.parametrize(
    ("config", "message"),
    [({"port": 6001}, "no appManager.array.apps"), ({"appManager.array.apps": [1]}, "a list")],
)
def test_soketi_config_without_apps_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        soketi_apps_from_config(config)


def test_soketi_default_app_from_env_keeps_soketis_defaults() -> None:
    """Only the variables set change Soketi's default app; values are JSON-parsed."""
    assert soketi_app_from_env({"PATH": "/bin"}) is None
    app = soketi_app_from_env(
        {"SOKETI_DEFAULT_APP_KEY": "k", "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES": "true"}
    )
    assert app == {"id": "app-id", "key": "k", "secret": "app-secret", "enableClientMessages": True}


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"max_event_payload_in_kb": "inf"}, "max_event_payload_in_kb"),
        ({"max_event_batch_size": "nan"}, "max_event_batch_size"),
        ({"max_connections": True}, "max_connections"),
        ({"max_connections": 2.5}, "max_connections"),
        ({"enabled": "maybe"}, "enabled"),
    ],
)
def test_values_that_are_not_numbers_or_flags_are_reported(row: dict[str, Any], field: str) -> None:
    """A bad value never raises: it is left out and named."""
    imported = from_soketi({**SOKETI_ROW, **row})
    assert field in fields(imported) and imported.problem is None
