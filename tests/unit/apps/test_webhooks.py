"""Webhook configuration: TOML tables, TIDINGS_DEFAULT_APP_WEBHOOKS, and errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tidings.apps.webhooks import WEBHOOK_EVENT_TYPES, Webhook, parse_webhooks
from tidings.config import Settings
from tidings.errors import ConfigError

pytestmark = pytest.mark.usefixtures("clean_env")


TOML = """
[[apps]]
id = "1"
key = "k"
secret = "s"
  [[apps.webhooks]]
  url = "http://127.0.0.1:8000/pusher/webhook"
  event_types = ["channel_occupied", "member_added"]
  filter = { channel_name_starts_with = "presence-" }
  headers = { "X-Tenant" = "acme" }
  [[apps.webhooks]]
  url = "https://example.com/all"
"""


def test_toml_webhooks_reach_the_app(tmp_path: Path) -> None:
    """Several webhooks per app, with event types, a filter and headers; defaults for the rest."""
    path = tmp_path / "t.toml"
    path.write_text(TOML)
    (app,) = Settings.load(path).app_list()
    first, second = app.webhooks
    assert first == Webhook(
        url="http://127.0.0.1:8000/pusher/webhook",
        event_types=("channel_occupied", "member_added"),
        channel_name_starts_with="presence-",
        headers=(("X-Tenant", "acme"),),
    )
    assert second.event_types == WEBHOOK_EVENT_TYPES
    assert parse_webhooks([w.plain() for w in app.webhooks]) == app.webhooks


def test_default_app_webhooks_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """TIDINGS_DEFAULT_APP_WEBHOOKS is JSON; the default app gets it."""
    monkeypatch.setenv(
        "TIDINGS_DEFAULT_APP_WEBHOOKS",
        '[{"url": "http://127.0.0.1:9/h", "filter": {"channel_name_ends_with": "-x"}}]',
    )
    (app,) = Settings.load().app_list()
    assert app.webhooks == (Webhook("http://127.0.0.1:9/h", channel_name_ends_with="-x"),)
    assert Settings.load(default_app_webhooks="[]").app_list()[0].webhooks == ()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ('[{"url": "ftp://x"}]', "webhooks[0].url 'ftp://x' is not an http(s) URL; write e.g."),
        ('[{"url": "http://h:99999/"}]', "webhooks[0].url 'http://h:99999/' has an invalid port"),
        ("[{}]", "webhooks[0].url is required"),
        (
            '[{"url": "http://h/", "event_types": ["member_joined"]}]',
            "webhooks[0].event_types: unknown event type 'member_joined'; use some of "
            "channel_occupied,",
        ),
        (
            '[{"url": "http://h/", "filter": {"channel_name_startswith": "a"}}]',
            "webhooks[0].filter.channel_name_startswith is not a filter key; use "
            "channel_name_starts_with or channel_name_ends_with",
        ),
        ('[{"url": "http://h/", "secret": "x"}]', "webhooks[0].secret is not a webhook key"),
        (
            '[{"url": "http://h/", "headers": {"X-Pusher-Signature": "x"}}]',
            "webhooks[0].headers.X-Pusher-Signature is set by tidings itself; remove it",
        ),
        ("[{", "webhooks is not valid JSON"),
        ("42", "webhooks must be a list of tables"),
    ],
)
def test_bad_webhook_config_names_the_key_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    """Each mistake is a start-up error naming TIDINGS_DEFAULT_APP_WEBHOOKS, the key and the fix."""
    monkeypatch.setenv("TIDINGS_DEFAULT_APP_WEBHOOKS", value)
    with pytest.raises(ConfigError) as caught:
        Settings.load()
    message = str(caught.value)
    assert message.startswith("invalid TIDINGS_DEFAULT_APP_WEBHOOKS: "), message
    assert expected in message


def test_bad_toml_webhook_names_the_app_and_key(tmp_path: Path) -> None:
    """In TOML the error names the [[apps]] table and the webhook key."""
    path = tmp_path / "t.toml"
    path.write_text(TOML.replace("channel_name_starts_with", "prefix"))
    with pytest.raises(ConfigError) as caught:
        Settings.load(path)
    assert "[[apps]] #1 key 'webhooks'" in str(caught.value)
    assert "webhooks[0].filter.prefix is not a filter key" in str(caught.value)


def test_matching_by_type_prefix_and_suffix() -> None:
    """A webhook takes an event only when its type and both channel filters agree."""
    hook = Webhook(
        "http://h/",
        event_types=("member_added",),
        channel_name_starts_with="presence-",
        channel_name_ends_with="-eu",
    )
    assert hook.matches("member_added", "presence-room-eu")
    assert not hook.matches("member_removed", "presence-room-eu")
    assert not hook.matches("member_added", "private-room-eu")
    assert not hook.matches("member_added", "presence-room-us")
