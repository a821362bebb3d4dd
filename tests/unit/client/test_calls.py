"""The client's sans-I/O half: signed calls the server's own check accepts, replies to errors."""

from __future__ import annotations

import time
from urllib.parse import parse_qsl, urlsplit

import pytest

from tidings.apps.base import App
from tidings.client import (
    AuthenticationError,
    Client,
    ClientError,
    NotFoundError,
    RequestError,
)
from tidings.client._calls import Api, ChannelInfo, read_reply
from tidings.client.errors import ServerError
from tidings.http.auth import verify_request
from tidings.protocol.signing import user_auth
from tidings.typing import AppId, AppKey

APP = App(id=AppId("1"), key=AppKey("app-key"), secret="app-secret")


def test_calls_verify_with_the_server_check() -> None:
    """A trigger built by Api passes verify_request over the path it was sent to."""
    call = Api("1", "app-key", "app-secret", "http://h:1").trigger("c", "e", {"a": 1})
    parts = urlsplit(call.url)
    assert parts.path == "/apps/1/events"
    params = dict(parse_qsl(parts.query))
    verify_request(
        APP, method="POST", paths=(parts.path,), params=params, body=call.body, now=time.time()
    )


def test_base_path_is_signed_as_a_prefix() -> None:
    """A path in the base URL (a proxy prefix) is part of the signed path."""
    call = Api("1", "app-key", "app-secret", "https://h/realtime/").channels("presence-")
    parts = urlsplit(call.url)
    assert parts.path == "/realtime/apps/1/channels"
    params = dict(parse_qsl(parts.query))
    assert params["filter_by_prefix"] == "presence-"
    verify_request(APP, method="GET", paths=(parts.path,), params=params, body=b"", now=time.time())


def test_not_an_http_url() -> None:
    """A ws:// or bare host URL is refused with an example."""
    with pytest.raises(ClientError, match="not an http"):
        Api("1", "k", "s", "ws://h:1")


@pytest.mark.parametrize(
    ("status", "cls"),
    [(401, AuthenticationError), (404, NotFoundError), (413, RequestError), (502, ServerError)],
)
def test_error_replies(status: int, cls: type[ClientError]) -> None:
    """Each status maps to its exception; str() shows the error and the hint."""
    call = Api("1", "k", "s", "http://h:1").users("presence-x")
    with pytest.raises(cls) as caught:
        read_reply(call, status, b'{"error": "went wrong", "hint": "do this"}')
    assert str(caught.value) == f"HTTP {status}: went wrong (do this)"


def test_non_json_error_body_is_kept() -> None:
    """A proxy's HTML error page still gives a readable error."""
    call = Api("1", "k", "s", "http://h:1").channel("x")
    with pytest.raises(ServerError, match="Bad Gateway"):
        read_reply(call, 502, b"<h1>Bad Gateway</h1>")


def test_success_replies_are_parsed() -> None:
    """Replies become typed results."""
    api = Api("1", "k", "s", "http://h:1")
    assert read_reply(api.channel("x", ["subscription_count"]), 200, b'{"occupied": false}') == (
        ChannelInfo(occupied=False)
    )
    assert read_reply(api.users("presence-x"), 200, b'{"users": [{"id": "7"}]}') == ["7"]
    assert read_reply(api.trigger("c", "e", "d"), 200, b"{}") == {}
    with pytest.raises(ServerError, match="not JSON"):
        read_reply(api.trigger("c", "e", "d"), 200, b"OK")


class TestAuthAnswers:
    """tidings.client's auth answers refuse what the PyPI SDK refuses, with a reason."""

    client = Client("1", "app-key", "app-secret")

    @pytest.mark.parametrize(
        ("user_data", "needle"),
        [
            ({}, 'needs "id"'),
            ({"id": 7}, "non-empty string"),
            ({"id": ""}, "non-empty string"),
            ({"id": "a b"}, "characters outside"),
        ],
    )
    def test_bad_user_data(self, user_data: dict[str, object], needle: str) -> None:
        with pytest.raises(ClientError, match=needle):
            self.client.authenticate_user("1.2", user_data)

    @pytest.mark.parametrize(
        ("socket_id", "channel", "member", "needle"),
        [
            ("nope", "private-x", None, "not like 123.456"),
            ("1.2", "public", None, "needs no auth"),
            ("1.2", "#server-to-user-1", None, "needs no auth"),
            ("1.2", "private-encrypted-x", None, "shared_secret"),
            ("1.2", "presence-x", None, "needs user_data"),
            ("1.2", "private-x", {"user_id": "1"}, "only for presence"),
            ("1.2", "bad name", None, "characters outside"),
        ],
    )
    def test_bad_channel_auth(
        self, socket_id: str, channel: str, member: dict[str, str] | None, needle: str
    ) -> None:
        with pytest.raises(ClientError, match=needle):
            self.client.authorize_channel(socket_id, channel, member)

    def test_user_auth_verifies_as_the_server_checks_it(self) -> None:
        answer = self.client.authenticate_user("1.2", {"id": "42"})
        assert answer["user_data"] == '{"id": "42"}'
        assert answer["auth"] == user_auth("app-key", "app-secret", "1.2", '{"id": "42"}')
