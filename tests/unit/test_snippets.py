"""The client snippets: each names the endpoint clients reach, signs what it must, and trusts
a self-signed certificate."""

from __future__ import annotations

import shlex
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.fixtures.tls import self_signed
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.protocol.signing import body_md5, sign_request
from tidings.snippets import snippet

pytestmark = pytest.mark.usefixtures("clean_env")


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
