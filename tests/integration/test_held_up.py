"""What the security review found sound, kept that way: each attack it tried, refused.

(Channel-auth reuse across sockets and channels, channel_data tampering and sign-in
forgery are covered at the session level in tests/unit/protocol/pusher/test_session.py.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import ssl
import time
import warnings
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
import websockets
from jwt.warnings import InsecureKeyLengthWarning

from tests.fixtures.tls import client_context, self_signed
from tests.integration.conftest import APP_ID, KEY, TIMEOUT, ServerFactory, signed_url
from tidings.server.runner import RunningServer

SECRET = "-".join(["held", "up", "secret", "value"]) + "-" + "x" * 48  # 64+ bytes: no key warnings
APPS = [
    {"id": "1", "key": KEY, "secret": SECRET},
    {"id": "2", "key": "other-key", "secret": "other-" + SECRET},
]
EVENT = orjson.dumps({"name": "e", "channels": ["c"], "data": "{}"})
EVENTS = f"/apps/{APP_ID}/events"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _rs256_confusion(claims: dict[str, Any]) -> str:
    """A token whose header says RS256 but whose signature is an HMAC of the secret."""
    header = _b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    digest = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


def _forged_tokens() -> dict[str, str]:
    now = int(time.time())
    good = {"sub": "private-ops", "iat": now, "exp": now + 600}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # short keys on purpose
        return _tokens(good, now)


def _tokens(good: dict[str, Any], now: int) -> dict[str, str]:
    return {
        "alg none": jwt.encode(good, "", algorithm="none"),
        "HS512": jwt.encode(good, SECRET, algorithm="HS512"),
        "RS256 confusion": _rs256_confusion(good),
        "signed with the public key": jwt.encode(good, KEY, algorithm="HS256"),
        "expired": jwt.encode({**good, "exp": now - 1}, SECRET, algorithm="HS256"),
        "wrong sub": jwt.encode({**good, "sub": "private-other"}, SECRET, algorithm="HS256"),
    }


@pytest.fixture
async def server(server_factory: ServerFactory) -> RunningServer:
    return await server_factory(apps=APPS)


async def _status(method: str, url: str, body: bytes | None = None) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.request(method, url, data=body) as response:
        return response.status, await response.text()


async def test_forged_piesocket_tokens_are_refused(server: RunningServer) -> None:
    for what, token in _forged_tokens().items():
        url = f"{server.ws_url}/v3/private-ops?api_key={KEY}&jwt={token}"
        async with websockets.connect(url) as ws:
            await asyncio.wait_for(ws.wait_closed(), TIMEOUT)
            assert ws.close_code == 4009, what
    good = jwt.encode({"sub": "private-ops"}, SECRET, algorithm="HS256")
    control = f"{server.ws_url}/v3/private-ops?api_key={KEY}&jwt={good}&notify_self=1"
    async with websockets.connect(control) as ws:  # the right token works
        assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)) == {"event": "system:boot"}
        await ws.send('{"event": "e", "data": 1}')
        assert orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["event"] == "e"


async def test_a_parameter_added_after_signing_is_refused(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", EVENTS, EVENT, secret=SECRET)
    assert (await _status("POST", url + "&info=subscription_count", EVENT))[0] == 401
    assert (await _status("POST", url, EVENT))[0] == 200


async def test_path_tricks_do_not_pass_a_signature(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", EVENTS, EVENT, secret=SECRET)
    query = url.split("?", 1)[1]
    for path in ("/apps/1/events/", "/apps//1/events", "/apps/1/events/..", "/apps/2/events"):
        status, _ = await _status("POST", f"{server.http_url}{path}?{query}", EVENT)
        assert status >= 400, path


async def test_one_apps_signature_is_no_good_for_another(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", "/apps/2/events", EVENT, secret=SECRET)
    assert (await _status("POST", url, EVENT))[0] == 401  # app 1's key and secret, app 2's URL


async def test_no_secret_in_status_metrics_or_401_bodies(server: RunningServer) -> None:
    assert server.admin_url is not None
    bodies = [
        (await _status("GET", f"{server.admin_url}/api/status"))[1],
        (await _status("GET", f"{server.admin_url}/metrics"))[1],
        (await _status("POST", signed_url(server.http_url, "POST", EVENTS, EVENT), EVENT))[1],
    ]
    assert all(SECRET not in body for body in bodies)
    assert "Invalid signature" in bodies[2]


async def test_tls_1_1_is_refused(server_factory: ServerFactory, tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    server = await server_factory(apps=APPS, tls_cert=cert, tls_key=key)
    port = server.port
    old = client_context(cert)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated: the point
        old.minimum_version = ssl.TLSVersion.TLSv1
        old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer TLS 1.1 at all
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=old)
        writer.close()
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client_context(cert))
    tls_version = writer.get_extra_info("ssl_object").version()
    writer.close()
    assert tls_version in ("TLSv1.2", "TLSv1.3")
