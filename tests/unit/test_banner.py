"""The start-up banner and the client snippets point clients at the right place."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import TypedDict
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fixtures.tls import self_signed
from tidings.banner import render_banner, snippet
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.protocol.signing import body_md5, sign_request

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


def test_tls_snippets_use_wss_port_and_force_tls(tmp_path: Path) -> None:
    """With TLS the pusher-js options switch to wssPort and forceTLS: true."""
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("x")
    key.write_text("x")
    settings = Settings.load(tls_cert=cert, tls_key=key, http_port=6443)
    js = snippet("js", settings)
    assert "wssPort: 6443," in js
    assert "forceTLS: true," in js
    assert "wsPort" not in js
    assert "ssl=True" in snippet("python", settings)
    assert "PUSHER_SCHEME=https" in snippet("env", settings)


def test_public_url_wins_for_snippets() -> None:
    """public_url's host, port and scheme are what clients are told to use."""
    settings = Settings.load(http_host="0.0.0.0", public_url="https://rt.example.com")
    js = snippet("js", settings)
    assert "wsHost: 'rt.example.com'," in js
    assert "wssPort: 443," in js
    echo = snippet("echo", settings)
    assert "broadcaster: 'pusher'," in echo
    assert "wsHost: 'rt.example.com'," in echo


def test_curl_snippet_is_correctly_signed() -> None:
    """The curl command carries a signature the HTTP API check will accept."""
    settings = Settings.load()
    text = snippet("curl", settings, now=1_700_000_000)
    command = text.splitlines()[-3:]
    body = shlex.split(command[1].rstrip(" \\"))[1]
    url = shlex.split(command[2])[0]
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    assert parts.path == "/apps/1/events"
    assert params["auth_timestamp"] == "1700000000"
    assert params["body_md5"] == body_md5(body.encode())
    signature = params.pop("auth_signature")
    assert signature == sign_request("app-secret", "POST", parts.path, params)


def test_unknown_snippet_kind() -> None:
    """An unknown kind is a ConfigError listing the valid ones."""
    with pytest.raises(ConfigError, match="unknown snippet kind 'ruby'"):
        snippet("ruby", Settings.load())


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


def test_tls_snippets_trust_a_self_signed_certificate(tmp_path: Path) -> None:
    """A self-signed tls_cert is what curl, the pusher SDK, trigger and Node are told to trust."""
    cert, key = self_signed(tmp_path)
    settings = Settings.load(tls_cert=cert, tls_key=key, http_port=6443)
    python = snippet("python", settings)
    assert f"self.options['verify'] = '{cert}'" in python
    assert "backend=TrustServerCertificate)" in python
    curl = snippet("curl", settings)
    assert f"curl --cacert {cert} -X POST" in curl
    assert f"--url https://127.0.0.1:6443 --cacert {cert}" in curl
    for kind in ("js", "echo", "piesocket"):
        assert f"NODE_EXTRA_CA_CERTS={cert} node " in snippet(kind, settings)


def test_plain_snippets_name_no_certificate() -> None:
    """Without TLS nothing asks to trust a file, and the default URL is left implicit."""
    settings = Settings.load()
    assert "TrustServerCertificate" not in snippet("python", settings)
    curl = snippet("curl", settings)
    assert "--cacert" not in curl
    assert '#   tidings trigger my-channel my-event \'{"message": "hello"}\'\n' in curl
    assert "re-run\n# `tidings snippet curl`" in curl
    assert "node pusher.mjs" in snippet("js", settings)
