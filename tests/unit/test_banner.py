"""The start-up banner and the client snippets point clients at the right place."""

from __future__ import annotations

from pathlib import Path
from typing import TypedDict

import pytest

from tidings.banner import render_banner
from tidings.config import Settings

pytestmark = pytest.mark.usefixtures("clean_env")


class Urls(TypedDict):
    """The listener URLs render_banner takes."""

    ws_url: str
    http_url: str
    admin_url: str | None


URLS = Urls(
    ws_url="ws://127.0.0.1:6001",
    http_url="http://127.0.0.1:6001",
    admin_url="http://127.0.0.1:9601",
)
PUSHER_JS_FIELDS = """\
const pusher = new Pusher('app-key', {
  cluster: '',
  wsHost: '127.0.0.1',
  wsPort: 6001,
  forceTLS: false,
  enabledTransports: ['ws', 'wss'],
});"""


def test_banner_lists_urls_credentials_and_snippets() -> None:
    """The banner shows every URL, the default app and the pusher-js options verbatim."""
    text = render_banner(Settings.load(), **URLS)
    assert "ws://127.0.0.1:6001/app/app-key" in text
    assert "http://127.0.0.1:6001/apps/1" in text
    assert "http://127.0.0.1:9601/" in text
    assert "id=1  key=app-key  secret=app-secret" in text
    assert PUSHER_JS_FIELDS in text
    assert "PUSHER_APP_SECRET=app-secret" in text
    assert "VITE_PUSHER_HOST=" in text
    assert (
        "pusher.Pusher(app_id='1', key='app-key', secret='app-secret', "
        "host='127.0.0.1', port=6001, ssl=False)"
    ) in text
    assert "curl -X POST" in text
    assert "WARNING" not in text


def test_banner_uses_the_bound_port() -> None:
    """With port 0 the snippets carry the port the runner actually bound."""
    urls = Urls(**{**URLS, "ws_url": "ws://127.0.0.1:40123", "http_url": "http://127.0.0.1:40123"})
    text = render_banner(Settings.load(http_port=0), **urls)
    assert "wsPort: 40123," in text
    assert "PUSHER_PORT=40123" in text


def test_default_credentials_on_public_bind_warn() -> None:
    """Binding 0.0.0.0 with app-secret prints a warning; snippets still use 127.0.0.1."""
    text = render_banner(Settings.load(http_host="0.0.0.0"), **URLS)
    assert "WARNING: listening on 0.0.0.0 with the published default credentials" in text
    assert "wsHost: '127.0.0.1'," in text


def test_fresh_secret_is_masked_on_public_bind() -> None:
    """A real secret does not reach the logs of a public server."""
    secret = "f" * 64
    text = render_banner(Settings.load(http_host="0.0.0.0", default_app_secret=secret), **URLS)
    assert secret not in text
    assert "tidings snippet" in text
    assert "WARNING" not in text


def test_every_app_is_listed_once_without_a_more_line(tmp_path: Path) -> None:
    """On a laptop (a terminal, loopback) every app is shown, and no "(+N more)" line
    repeats them."""
    toml = tmp_path / "t.toml"
    toml.write_text(
        '[[apps]]\nid = "1"\nkey = "a"\nsecret = "s1"\n'
        '[[apps]]\nid = "2"\nkey = "b"\nsecret = "s2"\n'
    )
    text = render_banner(Settings.load(toml), **URLS, show_secrets=True)
    assert "app         id=1  key=a  secret=s1" in text
    assert "app         id=2  key=b  secret=s2" in text
    assert "more" not in text


def test_admin_listener_not_started_is_one_readable_line() -> None:
    """A taken admin port is said in words with the flag to fix it, not glued into a URL."""
    text = render_banner(Settings.load(admin_port=9601), **Urls(**{**URLS, "admin_url": None}))
    line = next(line for line in text.splitlines() if line.lstrip().startswith("Admin"))
    assert line == (
        "  Admin      not started: 127.0.0.1:9601 is taken "
        "(another port: --admin-port N or TIDINGS_ADMIN_PORT)"
    )


def test_admin_password_gets_a_hint_under_the_dashboard_url_never_the_password() -> None:
    """With admin_password set the line after the dashboard URL says how to sign in; the
    password itself is nowhere in the banner. Without one there is no such line."""
    text = render_banner(Settings.load(admin_password="s3cret-pw"), **URLS)
    lines = text.splitlines()
    admin = next(i for i, line in enumerate(lines) if line.lstrip().startswith("Admin"))
    assert lines[admin] == "  Admin      http://127.0.0.1:9601/   (dashboard; Prometheus: /metrics)"
    assert lines[admin + 1] == (
        "             sign in with any user name and the admin password you set (admin_password)"
    )
    assert "s3cret-pw" not in text
    plain = render_banner(Settings.load(), **URLS).splitlines()
    assert plain[plain.index(lines[admin]) + 1] == ""
    taken = render_banner(
        Settings.load(admin_password="s3cret-pw"), **Urls(**{**URLS, "admin_url": None})
    )
    assert "sign in" not in taken


def test_unreachable_broker_heads_the_banner_with_url_and_fix() -> None:
    """Redis down at start-up: the first line says NOT ready, names the URL and how to start one."""
    settings = Settings.load(broker_url="redis://:pw@127.0.0.1:1/0")
    text = render_banner(settings, **URLS, broker_healthy=False)
    first = text.splitlines()[0]
    assert first.endswith(
        "is running but NOT ready: Redis at redis://:****@127.0.0.1:1/0 is unreachable"
    )
    assert "redis-server --port 1" in text
    assert "pw" not in text
    remote = render_banner(
        Settings.load(broker_url="redis://redis.internal:6380"), **URLS, broker_healthy=False
    )
    assert "check that Redis runs on redis.internal:6380" in remote
