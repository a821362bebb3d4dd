"""HTTP API findings of the security review, each against a real server.

Timestamps that overflow, duplicated query keys, per-app rate limits (429 with
Retry-After, spent only by correctly signed requests).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson

from tests.integration.conftest import APP_ID, ServerFactory, signed_url
from tidings.server.runner import RunningServer

EVENT = orjson.dumps({"name": "e", "channels": ["c"], "data": "{}"})
EVENTS = f"/apps/{APP_ID}/events"


async def send(
    method: str, url: str, body: bytes | None = None
) -> tuple[int, Any, Mapping[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, data=body) as response:
            return response.status, await response.json(content_type=None), response.headers


async def test_a_400_digit_timestamp_is_a_401_not_a_500(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", EVENTS, EVENT, timestamp=int("9" * 400))
    status, reply, _ = await send("POST", url, EVENT)
    assert status == 401 and "auth_timestamp" in reply["error"]


async def test_non_ascii_digits_are_not_a_timestamp(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", EVENTS, EVENT, extra={"auth_timestamp": "١٢"})
    status, reply, _ = await send("POST", url, EVENT)
    assert status == 401 and "auth_timestamp" in reply["error"]


async def test_a_query_key_appended_after_signing_is_refused(server: RunningServer) -> None:
    url = signed_url(server.http_url, "POST", EVENTS, EVENT)
    for extra in ("&auth_key=other", "&AUTH_KEY=app-key", "&body_md5=0"):
        status, reply, _ = await send("POST", url + extra, EVENT)
        assert status == 400, extra
        assert "more than once" in reply["error"] and "once" in reply["hint"]
    assert (await send("POST", url, EVENT))[0] == 200  # the request as signed still goes


async def test_backend_event_rate_limit_answers_429_with_retry_after(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_backend_events_per_second=3)
    three = orjson.dumps({"name": "e", "channels": ["a", "b", "c"], "data": "{}"})
    url = signed_url(server.http_url, "POST", EVENTS, three)
    assert (await send("POST", url, three))[0] == 200  # three channels: three events
    status, reply, headers = await send(
        "POST", signed_url(server.http_url, "POST", EVENTS, EVENT), EVENT
    )
    assert status == 429
    assert "max_backend_events_per_second" in reply["error"] and reply["hint"]
    assert int(headers["Retry-After"]) >= 1


async def test_read_rate_limit_answers_429(server_factory: ServerFactory) -> None:
    server = await server_factory(max_read_requests_per_second=2)
    path = f"/apps/{APP_ID}/channels"
    statuses = [(await send("GET", signed_url(server.http_url, "GET", path)))[0] for _ in range(3)]
    assert statuses == [200, 200, 429]
    # Publishing is another budget (unlimited here).
    assert (await send("POST", signed_url(server.http_url, "POST", EVENTS, EVENT), EVENT))[0] == 200


async def test_bad_signatures_do_not_spend_the_apps_budget(server_factory: ServerFactory) -> None:
    server = await server_factory(max_backend_events_per_second=1)
    forged = signed_url(server.http_url, "POST", EVENTS, EVENT, secret="guess")
    for _ in range(5):
        assert (await send("POST", forged, EVENT))[0] == 401
    assert (await send("POST", signed_url(server.http_url, "POST", EVENTS, EVENT), EVENT))[0] == 200


async def test_piesocket_rest_publish_spends_the_event_budget(
    server_factory: ServerFactory,
) -> None:
    server = await server_factory(max_backend_events_per_second=1)
    body = orjson.dumps(
        {"key": "app-key", "secret": "app-secret", "channelId": "c", "message": {"event": "e"}}
    )
    statuses = [(await send("POST", f"{server.http_url}/api/publish", body))[0] for _ in range(2)]
    assert statuses == [200, 429]
