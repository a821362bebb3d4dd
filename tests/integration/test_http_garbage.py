"""Unauthenticated garbage to every HTTP endpoint never answers 5xx (property-based).

Every route of the main listener and of the admin listener, found from the running
server's route tables (so a new endpoint is covered without editing this file), gets path
segments, query parameters, headers and bodies drawn by hypothesis: printable text,
control characters, invalid percent-escapes, huge numbers. Whatever it is, the answer
is a status below 500, and the server still serves a signed publish afterwards.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.conftest import publish
from tidings.server.runner import RunningServer

_PARAM = re.compile(r"\{[^}]+\}")
AUTH_PARAMS = ["auth_key", "auth_timestamp", "auth_version", "auth_signature", "body_md5"]
HEADERS = [
    "Authorization",
    "Content-Type",
    "Origin",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "jwt",
    "X-Forwarded-For",
    "Accept-Encoding",
]


def _main_routes(server: RunningServer) -> list[tuple[str, str]]:
    """(method, path template) of every route of the main port (any method: GET)."""
    found = set()
    for route in server.router.routes:
        for method in route.methods or ("GET",):
            found.add((method, route.template))
    return sorted(found)


def _routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, path template) of every route of ``app``; HEAD comes with GET."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        template = info.get("formatter") or info.get("path")
        if template and route.method != "HEAD":
            found.add((route.method if route.method != "*" else "GET", template))
    return sorted(found)


# Text with the characters that break parsers: controls, surrogate-ish escapes, digits.
_weird = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
) | st.sampled_from(["9" * 400, "-1", "1e999", "%", "%zz", "%ff%fe", "%00", "..", "\u0661\u0662"])
# Real values too, so requests get past the first checks (key, version) to the later ones.
_value = _weird | st.integers().map(str) | st.sampled_from(["app-key", "1.0", "1", "d41d8cd9"])
# Header values must be sendable (no CR/LF/NUL); everything else printable latin-1 goes.
_header_value = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
    max_size=60,
) | st.sampled_from(["Basic " + "=" * 5, "Basic !!!", "Bearer x", "websocket", "Upgrade", "13"])


def _raw(value: str) -> str:
    """``value`` percent-encoded, except a literal ``%`` escape sometimes left as is."""
    return value if re.fullmatch(r"(%[0-9a-zA-Z]{0,2})+", value) else quote(value, safe="")


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str, str]]) -> dict[str, Any]:
    base, method, template = draw(st.sampled_from(routes))
    path = _PARAM.sub(lambda _: _raw(draw(_weird.filter(bool))), template)
    keys = st.sampled_from(AUTH_PARAMS + ["info", "filter_by_prefix", "api_key"]) | _weird
    pairs = draw(st.lists(st.tuples(keys, _value), max_size=6))
    query = "&".join(f"{_raw(k)}={_raw(v)}" for k, v in pairs)
    headers = draw(st.dictionaries(st.sampled_from(HEADERS), _header_value, max_size=4))
    body = draw(st.binary(max_size=64) | st.sampled_from([b"{}", b"[]", b'{"batch":[1]}']))
    return {
        "method": method,
        "url": f"{base}{path}" + (f"?{query}" if query else ""),
        "headers": headers,
        "body": body if method in ("POST", "PUT", "PATCH") else None,
    }


def _all_routes(server: RunningServer) -> list[tuple[str, str, str]]:
    assert server.admin_runner is not None and server.admin_url is not None
    main = [(server.http_url, m, t) for m, t in _main_routes(server)]
    admin = [(server.admin_url, m, t) for m, t in _routes(server.admin_runner.app)]
    return main + admin


def test_every_route_is_found(server: RunningServer) -> None:
    """The route listing sees both listeners, so the property covers them."""
    found = {template for _, _, template in _all_routes(server)}
    assert {"/apps/{app_id}/events", "/api/publish", "/metrics", "/v3/{channel}"} <= found


async def _send(request: dict[str, Any]) -> tuple[int, bytes]:
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session:
        async with session.request(
            request["method"],
            request["url"],
            headers=request["headers"],
            data=request["body"],
            allow_redirects=False,
        ) as response:
            return response.status, await response.read()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_garbage_never_gets_a_5xx(server: RunningServer, data: st.DataObject) -> None:
    request = data.draw(requests(_all_routes(server)))
    try:
        status, body = await _send(request)
    except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
        # aiohttp's server may refuse a request it cannot parse by closing; that is
        # a 400 the client library could not read, not a crash: the next check tells.
        status, body = 400, repr(exc).encode()
    assert status < 500, (request, status, body[:300])


async def test_server_still_serves_after_garbage(server: RunningServer) -> None:
    status, _ = await _send(
        {
            "method": "GET",
            "url": f"{server.http_url}/apps/1/events?auth_timestamp={'9' * 400}",
            "headers": {},
            "body": None,
        }
    )
    assert status == 405
    assert await publish(server, ["after"], "ok", "{}") == (200, {})
