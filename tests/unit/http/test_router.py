"""The main port's route table, without sockets: which route, which parameters, 404/405."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from tidings.bootstrap import WIRES, build_router
from tidings.config import Settings
from tidings.http.router import Router
from tidings.protocol.http_request import HttpError, Request, query_pairs


def request(method: str, target: str) -> Request:
    raw_path, _, query = target.partition("?")
    return Request(method, unquote(raw_path), raw_path, query_pairs(query), [], "1.1", True, False)


@pytest.fixture
def router() -> Router:
    return build_router(Settings.load(path_prefix="/pfx"))


def test_the_api_routes_and_their_parameters(router: Router) -> None:
    req = request("POST", "/apps/1/events")
    assert router.resolve(req).template == "/apps/{app_id}/events"
    assert req.params == {"app_id": "1"}
    req = request("GET", "/apps/7/channels/presence-a%2Fb/users")
    assert router.resolve(req).template == "/apps/{app_id}/channels/{channel}/users"
    assert req.params == {
        "app_id": "7",
        "channel": "presence-a/b",
    }  # decoded after the match


def test_prefixed_routes_are_their_own_endpoints(router: Router) -> None:
    assert router.resolve(request("POST", "/pfx/apps/1/events")).template == (
        "/pfx/apps/{app_id}/events"
    )


def test_websocket_routes_carry_their_wire(router: Router) -> None:
    req = request("GET", "/app/app-key?protocol=7")
    assert router.resolve(req).wire is WIRES[0] and req.params == {"key": "app-key"}
    assert router.resolve(request("GET", "/v3/orders")).wire is WIRES[1]


def test_get_routes_answer_head_but_websocket_routes_do_not(router: Router) -> None:
    assert router.resolve(request("HEAD", "/health")).template == "/health"
    with pytest.raises(HttpError) as refused:
        router.resolve(request("HEAD", "/app/app-key"))
    assert refused.value.http_status == 405 and refused.value.hint == "use GET"
    assert refused.value.headers == (("Allow", "GET"),)


def test_an_unknown_path_is_a_404_naming_it(router: Router) -> None:
    for target in (
        "/nope",
        "/health/",
        "/apps/1/channels/",
        "//health",
        "/app/",
        "/app/a/b",
        "*",
    ):
        with pytest.raises(HttpError) as refused:
            router.resolve(request("GET", target))
        assert refused.value.http_status == 404, target
        assert refused.value.message == f"no such endpoint: GET {target}"


def test_a_known_path_with_another_method_is_a_405_with_allow(router: Router) -> None:
    with pytest.raises(HttpError) as refused:
        router.resolve(request("DELETE", "/apps/1/channels"))
    assert refused.value.http_status == 405
    assert refused.value.hint == "use GET, HEAD"
    assert "DELETE is not allowed on /apps/1/channels" in refused.value.message


def test_the_pusher_hint_takes_every_method(router: Router) -> None:
    for method in ("GET", "POST", "OPTIONS"):
        assert router.resolve(request(method, "/pusher/xhr_streaming")).template == (
            "/pusher/{tail:.*}"
        )
