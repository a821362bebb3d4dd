"""`tidings apps …` on a SQLite app database, with no server running."""

from __future__ import annotations

import pytest

from tests.support.apps_cli import apps_json, run_apps

pytestmark = pytest.mark.usefixtures("sqlite_apps")


def test_create_prints_generated_credentials_once() -> None:
    """create generates id, key and secret; list shows no secret; show only with the flag."""
    made = apps_json("create", "--name", "shop", "--max-connections", "3")
    assert made["id"].isdigit() and made["secret"] and made["max_connections"] == 3
    listed = apps_json("list")
    assert [a["id"] for a in listed] == ["1", made["id"]]
    assert listed[0]["read_only"] is True and all("secret" not in a for a in listed)
    assert "secret" not in apps_json("show", made["id"])
    assert apps_json("show", made["id"], "--show-secret")["secret"] == made["secret"]
    text = run_apps("list").stdout
    assert "config (read-only)" in text and "shop" in text


def test_every_setting_has_a_flag() -> None:
    """Flags derived from App: booleans with --no-, repeated lists, limits."""
    made = apps_json(
        "create",
        "--id",
        "99",
        "--no-enable-client-messages",
        "--enable-subscription-count",
        "--allowed-origins",
        "https://a.example",
        "--allowed-origins",
        "https://b.example",
        "--max-client-events-per-second",
        "0",
        "--history-channels",
        "chat-",
        "--history-size",
        "1000",
        "--history-ttl",
        "86400",
    )
    assert made["enable_client_messages"] is False and made["enable_subscription_count"]
    assert made["allowed_origins"] == ["https://a.example", "https://b.example"]
    assert made["max_client_events_per_second"] == 0
    assert made["history_channels"] == ["chat-"]
    assert (made["history_size"], made["history_ttl"]) == (1000, 86400)
    shown = apps_json("show", "99")
    assert shown["history_channels"] == ["chat-"] and shown["history_size"] == 1000
    changed = apps_json("update", "99", "--history-size", "5", "--history-channels", "*")
    assert changed["history_size"] == 5 and changed["history_channels"] == ["*"]


def test_webhooks_by_url_or_json_table() -> None:
    """--webhook takes a URL or a JSON table, repeated; a bad one is one line, exit 1."""
    made = apps_json(
        "create",
        "--webhook",
        "http://127.0.0.1:8000/hook",
        "--webhook",
        '{"url": "http://127.0.0.1:8001/x", "event_types": ["channel_occupied"]}',
    )
    assert [h["url"] for h in made["webhooks"]] == [
        "http://127.0.0.1:8000/hook",
        "http://127.0.0.1:8001/x",
    ]
    assert made["webhooks"][1]["event_types"] == ["channel_occupied"]
    for bad, message in (("ftp://x", "not an http(s) URL"), ("{nope", "not valid JSON")):
        result = run_apps("create", "--webhook", bad)
        assert result.exit_code == 1 and message in result.stderr


def test_update_rotate_disable_enable_delete() -> None:
    """The write verbs, each visible in the next show."""
    made = apps_json("create", "--max-batch-size", "4")
    app_id = made["id"]
    assert apps_json("update", app_id, "--name", "renamed")["name"] == "renamed"
    assert apps_json("update", app_id, "--inherit", "max-batch-size")["max_batch_size"] == 10
    rotated = apps_json("rotate-secret", app_id, "--grace", "30")
    assert rotated["secret"] != made["secret"] and rotated["previous_secret_expires_at"]
    assert apps_json("disable", app_id)["enabled"] is False
    assert apps_json("enable", app_id)["enabled"] is True
    refused = run_apps("delete", app_id)  # no --yes, no terminal: refused
    assert refused.exit_code == 1 and "--yes" in refused.stderr
    assert apps_json("delete", app_id, "--yes") == {"deleted": app_id}
    assert run_apps("show", app_id).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["update", "1", "--name", "x"], "read-only"),
        (["disable", "1"], "read-only"),
        (["show", "404"], "no app has the id '404'"),
        (["create", "--id", "1"], "belongs to an app of the configuration"),
        (["create", "--max-batch-size", "0"], "invalid max_batch_size"),
        (["create", "--history-size", "1001"], "invalid history_size"),
        (["create", "--history-ttl", "0"], "invalid history_ttl"),
        (["create", "--history-channels", "a b"], "invalid history_channels"),
        (["create", "--id", "a b"], "invalid id"),
        (["update", "1", "--inherit", "name"], "not a limit"),
        (["rotate-secret", "404"], "no app has the id"),
    ],
)
def test_errors_are_one_line_and_exit_1(args: list[str], message: str) -> None:
    """Bad input: one `error: …` line on stderr, exit 1 (usage errors: 2)."""
    result = run_apps(*args)
    assert result.exit_code in (1, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_duplicate_key_in_the_database() -> None:
    """A second app with the same key: exit 1, the first one unchanged."""
    apps_json("create", "--key", "dup-key", "--id", "5")
    result = run_apps("create", "--key", "dup-key")
    assert result.exit_code == 1 and "dup-key" in result.stderr
    assert len(apps_json("list")) == 2


def test_no_database_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    """database_url = '': the CLI says apps come from the configuration only."""
    monkeypatch.setenv("TIDINGS_DATABASE_URL", "")
    result = run_apps("list")
    assert result.exit_code == 1 and "configuration only" in result.stderr
