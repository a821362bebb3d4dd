"""`tidings apps import soketi|reverb` against the real sources: a Soketi-shaped `apps`
table in MariaDB and in PostgreSQL (Soketi's own DDL), a Soketi config.json, a Laravel
.env and Reverb's config as JSON; into a SQLite app database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures.soketi import SOKETI_MYSQL_DDL, SOKETI_POSTGRES_DDL
from tests.support.apps_cli import apps_json, run_apps
from tests.support.mysql import mysql_connect

pytestmark = [pytest.mark.mysql, pytest.mark.postgres, pytest.mark.usefixtures("sqlite_apps")]

COLUMNS = (
    "id, {q}key{q}, secret, max_connections, {q}enabled{q}, enable_client_messages, "
    "max_backend_events_per_sec, max_client_events_per_sec, max_read_req_per_sec, webhooks, "
    "max_presence_members_per_channel, max_event_payload_in_kb, max_channel_name_length, "
    "enable_user_authentication"
)
HOOKS = [
    {
        "url": "http://127.0.0.1:9/soketi",
        "event_types": ["channel_occupied", "member_added"],
        "filter": {"channel_name_starts_with": "presence-"},
        "headers": {"X-Tenant": "acme"},
    },
    {"lambda_function": "notify", "event_types": ["client_event"], "lambda": {"async": True}},
]
SOKETI_ROWS: list[tuple[Any, ...]] = [
    ("101", "soketi-one", "soketi-secret-one", 200, 1, 1, -1, 20, -1, json.dumps(HOOKS), 50, 64,
     None, 0),
    ("102", "soketi-two", "soketi-secret-two", -1, 0, 0, 100, -1, 10, "[]", None, None, 120, 1),
]  # fmt: skip


def insert_rows(cursor: Any, quote: str, rows: list[tuple[Any, ...]]) -> None:
    marks = ", ".join(["%s"] * len(rows[0]))
    for row in rows:
        cursor.execute(f"INSERT INTO apps ({COLUMNS.format(q=quote)}) VALUES ({marks})", row)


@pytest.fixture
def soketi_mysql(mysql_url: str) -> str:
    """A MariaDB database holding Soketi's apps table with SOKETI_ROWS."""
    with mysql_connect(mysql_url) as conn, conn.cursor() as cursor:
        cursor.execute(SOKETI_MYSQL_DDL)
        insert_rows(cursor, "`", SOKETI_ROWS)
    return mysql_url


@pytest.fixture
def soketi_postgres(postgres_url: str) -> str:
    """A PostgreSQL database holding Soketi's apps table with SOKETI_ROWS."""
    with psycopg.connect(postgres_url, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(SOKETI_POSTGRES_DDL)
        insert_rows(cursor, '"', SOKETI_ROWS)
    return postgres_url


def listed() -> dict[str, dict[str, Any]]:
    return {a["id"]: a for a in apps_json("list")}


def imported(*args: str) -> dict[str, Any]:
    report: dict[str, Any] = apps_json("import", *args)
    return report


@pytest.mark.parametrize("kind", ["mysql", "postgres"])
def test_soketi_tables_are_imported_with_their_webhooks(
    kind: str, request: pytest.FixtureRequest
) -> None:
    """A dry run writes nothing; the import maps every column, webhooks included."""
    url: str = request.getfixturevalue(f"soketi_{kind}")
    dry = imported("soketi", url, "--dry-run")
    assert (dry["dry_run"], dry["written"]) == (True, False)
    assert [(a["id"], a["result"]) for a in dry["apps"]] == [("101", "checked"), ("102", "checked")]
    assert list(listed()) == ["1"]  # nothing written

    report = imported("soketi", url)
    assert report["written"] is True
    lost = {(u["app"], u["field"]): u["reason"] for u in report["unmapped"]}
    assert set(lost) == {
        ("101", "webhooks[1]"),
        ("102", "max_channel_name_length"),
        ("102", "enable_user_authentication"),
    }
    apps = listed()
    one, two = apps["101"], apps["102"]
    assert (one["key"], one["max_connections"], one["enabled"]) == ("soketi-one", 200, True)
    assert one["max_client_events_per_second"] == 20
    assert one["max_backend_events_per_second"] == 0  # -1: no limit
    assert (one["max_presence_members"], one["max_payload_bytes"]) == (50, 64 * 1024)
    assert one["webhooks"] == [
        {
            "url": "http://127.0.0.1:9/soketi",
            "event_types": ["channel_occupied", "member_added"],
            "filter": {"channel_name_starts_with": "presence-"},
            "headers": {"X-Tenant": "acme"},
        }
    ]
    assert (two["enabled"], two["enable_client_messages"], two["max_connections"]) == (
        False,
        False,
        None,
    )
    assert two["max_read_requests_per_second"] == 10
    shown = run_apps("show", "101", "--show-secret", "--json")
    assert json.loads(shown.stdout)["secret"] == "soketi-secret-one"


def test_clashing_ids_and_keys_are_refused_by_name_and_nothing_is_written(
    soketi_mysql: str,
) -> None:
    """One clash refuses the whole import: the other app is not written either."""
    made = run_apps("create", "--id", "555", "--key", "soketi-two", "--json")
    assert made.exit_code == 0, made.stderr
    result = run_apps("import", "soketi", soketi_mysql)
    assert result.exit_code == 1
    assert "refused: the key 'soketi-two' is taken by an app in the database" in result.stdout
    assert "error: nothing imported: 1 of 2 app(s) refused" in result.stderr
    assert sorted(listed()) == ["1", "555"]


def test_the_default_apps_credentials_clash_with_a_hint(tmp_path: Path) -> None:
    """Soketi's stock app-key clashes with tidings' default app: the refusal says how to fix it."""
    config = tmp_path / "soketi.json"
    apps = [{"id": "app-id", "key": "app-key", "secret": "app-secret"}]
    config.write_text(json.dumps({"appManager.array.apps": apps}))
    result = run_apps("import", "soketi", str(config), "--dry-run")
    assert result.exit_code == 1
    assert "the key 'app-key' is taken by the default app" in result.stdout
    assert "TIDINGS_DEFAULT_APP_ID/KEY/SECRET" in result.stdout


def test_a_soketi_config_file(tmp_path: Path) -> None:
    """appManager.array.apps of a Soketi config.json, camelCase, with its own webhooks."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {
                "debug": True,
                "port": 6001,
                "appManager": {
                    "driver": "array",
                    "array": {
                        "apps": [
                            {
                                "id": 321,
                                "key": "json-key",
                                "secret": "json-secret",
                                "maxConnections": 10,
                                "enableClientMessages": True,
                                "webhooks": [{"url": "https://example.com/hook"}],
                            }
                        ]
                    },
                },
            }
        )
    )
    result = run_apps("import", "soketi", str(config))
    assert result.exit_code == 0, result.stderr
    assert "321" in result.stdout and "imported 1 app(s)" in result.stdout
    app = listed()["321"]
    assert (app["max_connections"], app["enable_client_messages"]) == (10, True)
    assert app["webhooks"][0]["url"] == "https://example.com/hook"


def test_a_laravel_env_file(tmp_path: Path) -> None:
    """REVERB_APP_* of a Laravel .env (quotes, export, comments, ${VAR}) become an app."""
    env = tmp_path / ".env"
    env.write_text(
        "APP_NAME=Laravel\n"
        "# Reverb\n"
        "BROADCAST_CONNECTION=reverb\n"
        'REVERB_APP_ID="458213"\n'
        "export REVERB_APP_KEY=reverb-key-123\n"
        "REVERB_APP_SECRET='reverb-secret-456'\n"
        "REVERB_HOST=localhost\n"
        'VITE_REVERB_APP_KEY="${REVERB_APP_KEY}"\n'
    )
    report = imported("reverb", str(env))
    assert [(a["id"], a["key"]) for a in report["apps"]] == [("458213", "reverb-key-123")]
    assert report["unmapped"] == []
    app = listed()["458213"]
    assert (app["name"], app["enable_client_messages"]) == ("reverb", True)
    shown = json.loads(run_apps("show", "458213", "--show-secret", "--json").stdout)
    assert shown["secret"] == "reverb-secret-456"


def test_reverb_config_as_json(tmp_path: Path) -> None:
    """config('reverb.apps') as JSON: every app, with what cannot be mapped named."""
    config = tmp_path / "reverb.json"
    app_one = {
        "app_id": "11",
        "key": "rk-11",
        "secret": "reverb-secret-11",
        "allowed_origins": ["laravel.com"],
        "ping_interval": 60,
        "max_message_size": 20000,
        "accept_client_events_from": "members",
    }
    app_two = {"app_id": "12", "key": "rk-12", "secret": "reverb-secret-12"}
    config.write_text(json.dumps({"provider": "config", "apps": [app_one, app_two]}))
    result = run_apps("import", "reverb", str(config))
    assert result.exit_code == 0, result.stderr
    assert "not mapped (left out):" in result.stdout and "ping_interval = 60" in result.stdout
    apps = listed()
    assert apps["11"]["allowed_origins"] == ["*://laravel.com", "*://laravel.com:*"]
    assert apps["11"]["max_client_event_bytes"] == 20000
    assert "12" in apps


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["soketi", "missing.json"], "error: missing.json not found"),
        (["soketi", "bad.json"], "error: bad.json is not valid JSON"),
        (["soketi", "mysql://root@127.0.0.1:1/soketi"], "cannot read Soketi's apps from mysql://"),
        (["reverb", "plain.env"], "no REVERB_APP_ID, REVERB_APP_KEY or REVERB_APP_SECRET"),
        (["reverb", "noapps.json"], "no Reverb apps in the JSON"),
    ],
)
def test_unreadable_sources_are_one_line_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """A missing file, bad JSON, an unreachable database, a file without apps: exit 1."""
    (tmp_path / "bad.json").write_text("{nope")
    (tmp_path / "plain.env").write_text("APP_NAME=Laravel\n")
    (tmp_path / "noapps.json").write_text('{"provider": "config"}')
    result = run_apps("import", *args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert list(listed()) == ["1"]


def test_a_missing_soketi_table_names_the_option(mysql_url: str) -> None:
    """Soketi's table under another name: the error says to pass --table."""
    result = run_apps("import", "soketi", mysql_url)
    assert result.exit_code == 1 and "no table 'apps'" in result.stderr
    assert "--table" in result.stderr


def test_a_soketi_env_file_gives_its_default_app(tmp_path: Path) -> None:
    """SOKETI_DEFAULT_APP_* of Soketi's .env: its default app, Soketi's defaults for the rest."""
    env = tmp_path / "soketi.env"
    env.write_text(
        "SOKETI_DEFAULT_APP_ID=900\nSOKETI_DEFAULT_APP_KEY=env-key\n"
        "SOKETI_DEFAULT_APP_SECRET=env-secret-1\nSOKETI_DEFAULT_APP_MAX_CONNS=50\n"
    )
    report = imported("soketi", str(env))
    assert [(a["id"], a["key"]) for a in report["apps"]] == [("900", "env-key")]
    app = listed()["900"]
    assert (app["max_connections"], app["enable_client_messages"]) == (50, False)
    (tmp_path / "other.env").write_text("PATH=/bin\n")
    result = run_apps("import", "soketi", str(tmp_path / "other.env"))
    assert result.exit_code == 1 and "nor a .env with SOKETI_DEFAULT_APP_*" in result.stderr
