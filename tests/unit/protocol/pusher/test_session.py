"""PusherSession: feed client text, assert on commands and on the frames pusher-js would read.

Spec: the Pusher Channels protocol v7 (events, client events, presence, sign-in) and the
decisions recorded in ``tidings.protocol.pusher.session`` and the modules it names.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from tidings.domain.channels import MAX_CHANNEL_NAME_LENGTH
from tidings.errors import SubscriptionError
from tidings.protocol.commands import (
    ClientEvent,
    Close,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.protocol.pusher.session import MAX_WATCHLIST, PusherSession, SessionPolicy
from tidings.protocol.signing import channel_auth, user_auth

KEY = "app-key"
SECRET = "app-secret"
SOCKET_ID = "123.456"


def make(client_events: bool = True, **limits: Any) -> PusherSession:
    policy = SessionPolicy(key=KEY, secret=SECRET, client_events=client_events)
    policy = dataclasses.replace(policy, **limits)
    return PusherSession(SOCKET_ID, policy, activity_timeout=30)


def send(session: PusherSession, event: str, data: Any = None, **extra: Any) -> None:
    message: dict[str, Any] = {"event": event, **extra}
    if data is not None:
        message["data"] = data
    session.receive_text(json.dumps(message))


def frames(session: PusherSession) -> list[dict[str, Any]]:
    """Drain the session's output, decoded as pusher-js does (string data is parsed)."""
    out = []
    for text in session.data_to_send():
        message: dict[str, Any] = json.loads(text)
        if isinstance(message.get("data"), str):
            message["data"] = json.loads(message["data"])
        out.append(message)
    return out


def one_frame(session: PusherSession) -> dict[str, Any]:
    out = frames(session)
    assert len(out) == 1, out
    return out[0]


def error_of(session: PusherSession) -> tuple[int | None, str]:
    """The code and message of the single queued pusher:error."""
    frame = one_frame(session)
    assert frame["event"] == "pusher:error"
    return frame["data"]["code"], frame["data"]["message"]


def sub_error_of(session: PusherSession) -> dict[str, Any]:
    """The data of the single queued pusher:subscription_error; no command was emitted."""
    frame = one_frame(session)
    assert frame["event"] == "pusher:subscription_error"
    assert session.commands_received() == []
    data: dict[str, Any] = frame["data"]
    return data


def presence_data(user_id: Any = "1", user_info: Any = None) -> str:
    value: dict[str, Any] = {"user_id": user_id}
    if user_info is not None:
        value["user_info"] = user_info
    return json.dumps(value)


def subscribe(session: PusherSession, channel: str, channel_data: str | None = None) -> None:
    """Subscribe with a valid signature (when the channel needs one)."""
    data: dict[str, Any] = {"channel": channel}
    if channel.startswith(("private-", "presence-")):
        data["auth"] = channel_auth(KEY, SECRET, SOCKET_ID, channel, channel_data)
    if channel_data is not None:
        data["channel_data"] = channel_data
    send(session, "pusher:subscribe", data)


def joined(session: PusherSession, channel: str, channel_data: str | None = None) -> None:
    """Subscribe and confirm, then drain everything."""
    subscribe(session, channel, channel_data)
    session.subscribed(channel, {} if channel.startswith("presence-") else None)
    session.commands_received()
    session.data_to_send()


class TestConnection:
    """connection_established, ping/pong, buffers."""

    def test_start_announces_socket_id_and_activity_timeout(self) -> None:
        session = make()
        session.start()
        assert one_frame(session) == {
            "event": "pusher:connection_established",
            "data": {"socket_id": SOCKET_ID, "activity_timeout": 30},
        }
        assert session.commands_received() == []

    def test_buffers_are_returned_once(self) -> None:
        session = make()
        session.start()
        assert len(session.data_to_send()) == 1
        assert session.data_to_send() == []
        assert session.commands_received() == []

    def test_client_ping_gets_pong(self) -> None:
        session = make()
        send(session, "pusher:ping", {})
        assert one_frame(session) == {"event": "pusher:pong", "data": {}}

    def test_client_pong_is_silent(self) -> None:
        session = make()
        send(session, "pusher:pong", {})
        assert session.data_to_send() == []
        assert session.commands_received() == []

    def test_server_ping(self) -> None:
        session = make()
        session.ping()
        assert one_frame(session) == {"event": "pusher:ping", "data": {}}

    def test_cache_miss(self) -> None:
        session = make()
        session.cache_miss("cache-a")
        assert one_frame(session) == {"event": "pusher:cache_miss", "channel": "cache-a"}


class TestBadInput:
    """Malformed and unknown messages: pusher:error, connection stays open."""

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("{oops", "not valid JSON"),
            ("[]", "must be a JSON object"),
            ('{"data":{}}', 'no "event"'),
            ('{"event":1}', '"event" must be a string'),
            ('{"event":"pusher:nope"}', "unknown event 'pusher:nope'"),
            ('{"event":"pusher_internal:member_added"}', "unknown event"),
            ('{"event":"my-event"}', "must start with 'client-'"),
        ],
    )
    def test_error_and_stay_open(self, text: str, needle: str) -> None:
        session = make()
        session.receive_text(text)
        code, message = error_of(session)
        assert code is None
        assert needle in message
        assert session.commands_received() == []
        send(session, "pusher:ping")
        assert one_frame(session)["event"] == "pusher:pong"

    def test_binary_is_refused(self) -> None:
        session = make()
        session.receive_binary(b'{"event":"pusher:ping"}')
        code, message = error_of(session)
        assert code is None
        assert "binary" in message and "text" in message
        assert session.commands_received() == []

    @pytest.mark.parametrize("event", ["pusher:subscribe", "pusher:unsubscribe"])
    @pytest.mark.parametrize("data", [None, [1], "not json", '"a string"', 5])
    def test_data_must_be_an_object(self, event: str, data: Any) -> None:
        session = make()
        send(session, event, data)
        code, message = error_of(session)
        assert code is None
        assert f'{event} needs "data" to be a JSON object' in message

    @pytest.mark.parametrize("channel", [None, "", 5])
    def test_subscribe_needs_a_channel(self, channel: Any) -> None:
        session = make()
        send(session, "pusher:subscribe", {"channel": channel})
        code, message = error_of(session)
        assert 'needs "data.channel"' in message
        assert session.commands_received() == []

    def test_unsubscribe_needs_a_channel(self) -> None:
        session = make()
        send(session, "pusher:unsubscribe", {"channel": 3})
        assert 'needs "data.channel"' in error_of(session)[1]


class TestPublicSubscribe:
    """Public channels: no auth; pending until the shell confirms."""

    def test_subscribe_then_confirm(self) -> None:
        session = make()
        subscribe(session, "my-channel")
        assert session.commands_received() == [Subscribe("my-channel")]
        assert session.data_to_send() == []
        assert dict(session.channels) == {"my-channel": None}
        session.subscribed("my-channel")
        assert one_frame(session) == {
            "event": "pusher_internal:subscription_succeeded",
            "channel": "my-channel",
            "data": {},
        }

    def test_data_as_json_string_is_accepted(self) -> None:
        session = make()
        send(session, "pusher:subscribe", json.dumps({"channel": "my-channel"}))
        assert session.commands_received() == [Subscribe("my-channel")]

    def test_repeat_subscribe_is_answered_again(self) -> None:
        session = make()
        joined(session, "my-channel")
        subscribe(session, "my-channel")
        assert session.commands_received() == [Subscribe("my-channel")]
        session.subscribed("my-channel")
        assert one_frame(session)["event"] == "pusher_internal:subscription_succeeded"

    @pytest.mark.parametrize(
        ("channel", "needle"),
        [
            ("bad channel", "characters outside"),
            ("a" * (MAX_CHANNEL_NAME_LENGTH + 1), "the limit is 200"),
            ("#tidings-users", "characters outside"),
        ],
    )
    def test_invalid_name(self, channel: str, needle: str) -> None:
        session = make()
        subscribe(session, channel)
        data = sub_error_of(session)
        assert data["type"] == "InvalidChannel"
        assert data["status"] == 400
        assert needle in data["error"]
        assert session.channels == {}

    def test_subscription_limit(self) -> None:
        session = make(max_subscriptions=2)
        subscribe(session, "a")
        subscribe(session, "b")
        session.commands_received()
        subscribe(session, "c")
        data = sub_error_of(session)
        assert data["type"] == "LimitReached"
        assert "2 channels" in data["error"]
        assert set(session.channels) == {"a", "b"}
        subscribe(session, "a")  # a repeat does not count twice
        assert session.commands_received() == [Subscribe("a")]

    def test_unsubscribe(self) -> None:
        session = make()
        joined(session, "my-channel")
        send(session, "pusher:unsubscribe", {"channel": "my-channel"})
        assert session.commands_received() == [Unsubscribe("my-channel")]
        assert session.data_to_send() == []
        assert session.channels == {}

    def test_unsubscribe_unknown_is_silent(self) -> None:
        session = make()
        send(session, "pusher:unsubscribe", {"channel": "never"})
        assert session.commands_received() == []
        assert session.data_to_send() == []

    def test_confirm_after_unsubscribe_is_dropped(self) -> None:
        session = make()
        subscribe(session, "my-channel")
        send(session, "pusher:unsubscribe", {"channel": "my-channel"})
        assert session.commands_received() == [Subscribe("my-channel"), Unsubscribe("my-channel")]
        session.subscribed("my-channel")
        session.subscription_refused("my-channel", SubscriptionError("late"))
        assert session.data_to_send() == []

    def test_refused_by_core(self) -> None:
        session = make()
        subscribe(session, "presence-x", presence_data())
        session.commands_received()
        session.subscription_refused(
            "presence-x", SubscriptionError("presence channel is full", kind="LimitReached")
        )
        frame = one_frame(session)
        assert frame == {
            "event": "pusher:subscription_error",
            "channel": "presence-x",
            "data": {"type": "LimitReached", "error": "presence channel is full", "status": 401},
        }
        assert session.channels == {}


class TestPrivateSubscribe:
    """Private channels: auth = key:HMAC(secret, socket_id:channel[:channel_data])."""

    def test_valid_auth(self) -> None:
        session = make()
        subscribe(session, "private-a")
        assert session.commands_received() == [Subscribe("private-a")]

    def test_encrypted_channel_needs_auth_too(self) -> None:
        session = make()
        subscribe(session, "private-encrypted-a")
        assert session.commands_received() == [Subscribe("private-encrypted-a")]
        send(session, "pusher:subscribe", {"channel": "private-encrypted-b"})
        assert sub_error_of(session)["type"] == "AuthError"

    def test_signed_channel_data_on_private_channel(self) -> None:
        session = make()
        subscribe(session, "private-a", '{"extra":1}')
        assert session.commands_received() == [Subscribe("private-a")]

    @pytest.mark.parametrize("auth", [None, "", 7])
    def test_missing_auth(self, auth: Any) -> None:
        session = make()
        send(session, "pusher:subscribe", {"channel": "private-a", "auth": auth})
        data = sub_error_of(session)
        assert data == {
            "type": "AuthError",
            "status": 401,
            "error": data["error"],
        }
        assert 'missing "auth"' in data["error"]
        assert session.channels == {}

    def test_wrong_signature_says_what_to_sign(self) -> None:
        session = make()
        send(session, "pusher:subscribe", {"channel": "private-a", "auth": f"{KEY}:deadbeef"})
        data = sub_error_of(session)
        assert data["type"] == "AuthError" and data["status"] == 401
        assert "Invalid signature" in data["error"]
        assert "'123.456:private-a'" in data["error"]

    def test_signature_for_another_socket_fails(self) -> None:
        session = make()
        auth = channel_auth(KEY, SECRET, "9.9", "private-a")
        send(session, "pusher:subscribe", {"channel": "private-a", "auth": auth})
        assert "Invalid signature" in sub_error_of(session)["error"]

    def test_wrong_key_part_fails(self) -> None:
        session = make()
        good = channel_auth(KEY, SECRET, SOCKET_ID, "private-a")
        auth = "other-key:" + good.split(":", 1)[1]
        send(session, "pusher:subscribe", {"channel": "private-a", "auth": auth})
        assert "Invalid key 'other-key'" in sub_error_of(session)["error"]

    def test_auth_without_colon(self) -> None:
        session = make()
        send(session, "pusher:subscribe", {"channel": "private-a", "auth": "nocolon"})
        assert "<app key>:<signature>" in sub_error_of(session)["error"]

    def test_channel_data_must_be_a_string(self) -> None:
        session = make()
        auth = channel_auth(KEY, SECRET, SOCKET_ID, "private-a")
        send(
            session,
            "pusher:subscribe",
            {"channel": "private-a", "auth": auth, "channel_data": {"user_id": "1"}},
        )
        assert "must be the JSON string" in sub_error_of(session)["error"]

    def test_unsigned_channel_data_fails(self) -> None:
        session = make()
        auth = channel_auth(KEY, SECRET, SOCKET_ID, "private-a")
        send(
            session,
            "pusher:subscribe",
            {"channel": "private-a", "auth": auth, "channel_data": '{"x":1}'},
        )
        assert "Invalid signature" in sub_error_of(session)["error"]


class TestPresenceSubscribe:
    """Presence channels: signed channel_data with user_id and optional user_info."""

    def test_member_with_info(self) -> None:
        session = make()
        subscribe(session, "presence-room", presence_data("42", {"name": "Ann"}))
        assert session.commands_received() == [Subscribe("presence-room", "42", {"name": "Ann"})]
        assert dict(session.channels) == {"presence-room": "42"}
        session.subscribed("presence-room", {"42": {"name": "Ann"}, "7": None})
        assert one_frame(session) == {
            "event": "pusher_internal:subscription_succeeded",
            "channel": "presence-room",
            "data": {
                "presence": {
                    "ids": ["42", "7"],
                    "hash": {"42": {"name": "Ann"}, "7": None},
                    "count": 2,
                }
            },
        }

    @pytest.mark.parametrize(
        ("user_id", "expected"),
        [("u-1", "u-1"), (12, "12"), (12.0, "12"), (1.5, "1.5"), (-3, "-3")],
    )
    def test_user_id_string_or_number(self, user_id: Any, expected: str) -> None:
        session = make()
        subscribe(session, "presence-room", presence_data(user_id))
        assert session.commands_received() == [Subscribe("presence-room", expected, None)]

    @pytest.mark.parametrize("user_id", ["", None, True, [1], {"a": 1}])
    def test_bad_user_id(self, user_id: Any) -> None:
        session = make()
        subscribe(session, "presence-room", json.dumps({"user_id": user_id}))
        data = sub_error_of(session)
        assert data["type"] == "AuthError"
        assert '"user_id"' in data["error"]
        assert session.channels == {}

    def test_missing_user_id(self) -> None:
        session = make()
        subscribe(session, "presence-room", '{"user_info":{}}')
        assert '"user_id"' in sub_error_of(session)["error"]

    @pytest.mark.parametrize("channel_data", [None, ""])
    def test_channel_data_required(self, channel_data: str | None) -> None:
        session = make()
        auth = channel_auth(KEY, SECRET, SOCKET_ID, "presence-room")
        data: dict[str, Any] = {"channel": "presence-room", "auth": auth}
        if channel_data is not None:
            data["channel_data"] = channel_data
        send(session, "pusher:subscribe", data)
        assert "needs channel_data" in sub_error_of(session)["error"]

    def test_channel_data_not_json(self) -> None:
        session = make()
        subscribe(session, "presence-room", "{nope")
        assert "channel_data is not valid JSON" in sub_error_of(session)["error"]

    def test_channel_data_not_an_object(self) -> None:
        session = make()
        subscribe(session, "presence-room", '["1"]')
        assert "must be a JSON object" in sub_error_of(session)["error"]

    def test_signature_covers_channel_data(self) -> None:
        session = make()
        auth = channel_auth(KEY, SECRET, SOCKET_ID, "presence-room", presence_data("1"))
        send(
            session,
            "pusher:subscribe",
            {"channel": "presence-room", "auth": auth, "channel_data": presence_data("2")},
        )
        assert "Invalid signature" in sub_error_of(session)["error"]

    def test_member_info_limit(self) -> None:
        session = make(max_member_info_bytes=20)
        subscribe(session, "presence-room", presence_data("1", {"n": "x" * 12}))  # 18 bytes
        assert session.commands_received() == [Subscribe("presence-room", "1", {"n": "x" * 12})]
        subscribe(session, "presence-big", presence_data("1", {"n": "x" * 20}))
        data = sub_error_of(session)
        assert data["type"] == "LimitReached"
        assert "the limit is 20" in data["error"]

    def test_unsubscribe_carries_user_id(self) -> None:
        session = make()
        joined(session, "presence-room", presence_data("42"))
        send(session, "pusher:unsubscribe", {"channel": "presence-room"})
        assert session.commands_received() == [Unsubscribe("presence-room", "42")]
        assert session.channels == {}

    def test_channels_view_is_read_only(self) -> None:
        session = make()
        joined(session, "presence-room", presence_data("42"))
        view = session.channels
        with pytest.raises(TypeError):
            view["x"] = None  # type: ignore[index]


def signin_data(user_data: str, *, key: str = KEY, socket_id: str = SOCKET_ID) -> dict[str, str]:
    return {"auth": user_auth(key, SECRET, socket_id, user_data), "user_data": user_data}


class TestSignIn:
    """pusher:signin: auth = key:HMAC(secret, socket_id::user::user_data)."""

    def test_success(self) -> None:
        session = make()
        user_data = '{"id":"u1","user_info":{"name":"Ann"}}'
        send(session, "pusher:signin", signin_data(user_data))
        assert session.commands_received() == [SignIn("u1", {"name": "Ann"})]
        assert one_frame(session) == {
            "event": "pusher:signin_success",
            "data": {"user_data": user_data},
        }
        assert session.user_id == "u1"

    def test_same_user_again_succeeds(self) -> None:
        session = make()
        send(session, "pusher:signin", signin_data('{"id":"u1"}'))
        send(session, "pusher:signin", signin_data('{"id":"u1"}'))
        assert session.commands_received() == [SignIn("u1"), SignIn("u1")]

    def assert_refused(self, session: PusherSession, needle: str) -> None:
        code, message = error_of(session)
        assert code == 4009
        assert message.startswith("Sign-in failed: ")
        assert needle in message
        commands = session.commands_received()
        assert len(commands) == 1 and isinstance(commands[0], Close)
        assert commands[0].code == 4009
        assert len(commands[0].reason.encode()) <= 123
        # The connection is ending: later input is ignored.
        send(session, "pusher:ping")
        session.receive_binary(b"x")
        assert session.data_to_send() == []
        assert session.commands_received() == []

    def test_another_user_fails(self) -> None:
        session = make()
        send(session, "pusher:signin", signin_data('{"id":"u1"}'))
        session.commands_received()
        session.data_to_send()
        send(session, "pusher:signin", signin_data('{"id":"u2"}'))
        self.assert_refused(session, "already signed in as 'u1'")
        assert session.user_id == "u1"

    def test_wrong_signature(self) -> None:
        session = make()
        send(session, "pusher:signin", signin_data('{"id":"u1"}', socket_id="1.1"))
        self.assert_refused(session, "Invalid signature")
        assert session.user_id is None

    def test_wrong_key(self) -> None:
        session = make()
        send(session, "pusher:signin", signin_data('{"id":"u1"}', key="nope"))
        self.assert_refused(session, "Invalid key 'nope'")

    def test_missing_auth(self) -> None:
        session = make()
        send(session, "pusher:signin", {"user_data": '{"id":"u1"}'})
        self.assert_refused(session, 'missing "auth"')

    @pytest.mark.parametrize("user_data", [None, "", 5])
    def test_missing_user_data(self, user_data: Any) -> None:
        session = make()
        send(session, "pusher:signin", {"auth": "x:y", "user_data": user_data})
        self.assert_refused(session, '"data.user_data"')

    def test_data_not_an_object(self) -> None:
        session = make()
        send(session, "pusher:signin", [1])
        self.assert_refused(session, 'needs "data" to be a JSON object')

    def test_user_data_not_json(self) -> None:
        session = make()
        send(session, "pusher:signin", signin_data("{bad"))
        self.assert_refused(session, "user_data is not valid JSON")

    @pytest.mark.parametrize("user_data", ['{"name":"x"}', '["u1"]', "null"])
    def test_user_data_needs_an_id(self, user_data: str) -> None:
        session = make()
        send(session, "pusher:signin", signin_data(user_data))
        self.assert_refused(session, 'user_data must be a JSON object with "id"')

    @pytest.mark.parametrize(
        ("user_data", "needle"),
        [
            ('{"id":1}', "must be a non-empty string"),
            ('{"id":""}', "must be a non-empty string"),
            ('{"id":"a b"}', "characters outside"),
            ('{"id":"#x"}', "characters outside"),
            ('{"id":"' + "u" * 201 + '"}', "201 characters; the limit is 200"),
        ],
    )
    def test_user_id_follows_the_sdk_rule(self, user_data: str, needle: str) -> None:
        session = make()
        send(session, "pusher:signin", signin_data(user_data))
        self.assert_refused(session, needle)


class TestWatchlist:
    """user_data.watchlist: up to 100 valid user ids, carried by SignIn, deduplicated."""

    def test_watchlist_is_carried_deduplicated(self) -> None:
        session = make()
        user_data = json.dumps({"id": "u1", "watchlist": ["a", "b", "a"]})
        send(session, "pusher:signin", signin_data(user_data))
        assert session.commands_received() == [SignIn("u1", None, ("a", "b"))]

    def test_the_limit_is_100(self) -> None:
        session = make()
        ids = [f"u{i}" for i in range(MAX_WATCHLIST)]
        send(session, "pusher:signin", signin_data(json.dumps({"id": "x", "watchlist": ids})))
        assert len(session.commands_received()[0].watchlist) == 100  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("watchlist", "needle"),
        [
            ([f"u{i}" for i in range(101)], "has 101 user ids; the limit is 100"),
            ("bob", "must be a list of user id strings"),
            ({"bob": 1}, "must be a list of user id strings"),
            (["ok", 7], "non-empty string"),
            (["a b"], "characters outside"),
        ],
    )
    def test_bad_watchlists_fail_the_sign_in(self, watchlist: Any, needle: str) -> None:
        session = make()
        user_data = json.dumps({"id": "u1", "watchlist": watchlist})
        send(session, "pusher:signin", signin_data(user_data))
        TestSignIn().assert_refused(session, needle)
        assert session.user_id is None


def signed_in(user_id: str = "u1") -> PusherSession:
    session = make()
    send(session, "pusher:signin", signin_data(json.dumps({"id": user_id})))
    session.commands_received()
    session.data_to_send()
    return session


class TestServerToUserChannel:
    """#server-to-user-{id}: only the connection signed in as {id} may subscribe (no auth)."""

    def test_own_channel_is_subscribed_without_auth(self) -> None:
        session = signed_in("u1")
        # pusher-js sends an empty auth for it (a plain Channel).
        send(session, "pusher:subscribe", {"channel": "#server-to-user-u1", "auth": ""})
        assert session.commands_received() == [Subscribe("#server-to-user-u1")]
        session.subscribed("#server-to-user-u1")
        assert one_frame(session)["event"] == "pusher_internal:subscription_succeeded"

    def test_before_sign_in_it_is_refused(self) -> None:
        session = make()
        send(session, "pusher:subscribe", {"channel": "#server-to-user-u1"})
        data = sub_error_of(session)
        assert (data["type"], data["status"]) == ("AuthError", 403)
        assert "sign in first" in data["error"]

    def test_another_users_channel_is_refused(self) -> None:
        session = signed_in("u1")
        send(session, "pusher:subscribe", {"channel": "#server-to-user-u2"})
        data = sub_error_of(session)
        assert (data["type"], data["status"]) == ("AuthError", 403)
        assert "belongs to another user" in data["error"]
        assert "'#server-to-user-u1'" in data["error"]
        # A refusal keeps the connection open: its own channel still works.
        send(session, "pusher:subscribe", {"channel": "#server-to-user-u1"})
        assert session.commands_received() == [Subscribe("#server-to-user-u1")]

    @pytest.mark.parametrize("channel", ["#server-to-user-", "#server-to-user-a b", "#other"])
    def test_bad_names_are_invalid_channels(self, channel: str) -> None:
        session = signed_in("u1")
        send(session, "pusher:subscribe", {"channel": channel})
        assert sub_error_of(session)["type"] == "InvalidChannel"

    def test_client_events_are_refused_on_it(self) -> None:
        session = signed_in("u1")
        send(session, "pusher:subscribe", {"channel": "#server-to-user-u1"})
        session.commands_received()
        session.subscribed("#server-to-user-u1")
        session.data_to_send()
        send(session, "client-x", {}, channel="#server-to-user-u1")
        code, message = error_of(session)
        assert code == 4301
        assert "is a server-to-user channel" in message

    def test_long_message_gives_a_short_close_reason(self) -> None:
        session = make()
        send(session, "pusher:signin", {"auth": "k:" + "é" * 200, "user_data": '{"id":"u"}'})
        commands = session.commands_received()
        assert isinstance(commands[0], Close)
        assert 0 < len(commands[0].reason.encode()) <= 123


class TestClientEvents:
    """client-* events: enabled apps, subscribed private/presence channels, limits."""

    def test_private_channel(self) -> None:
        session = make()
        joined(session, "private-a")
        send(session, "client-typing", {"who": "me", "n": [1, 2]}, channel="private-a")
        assert session.commands_received() == [
            ClientEvent("private-a", "client-typing", '{"who":"me","n":[1,2]}')
        ]
        assert session.data_to_send() == []  # never echoed to the sender

    def test_presence_channel_carries_user_id(self) -> None:
        session = make()
        joined(session, "presence-room", presence_data("42"))
        send(session, "client-x", {"a": 1}, channel="presence-room")
        assert session.commands_received() == [
            ClientEvent("presence-room", "client-x", '{"a":1}', "42")
        ]

    @pytest.mark.parametrize(
        ("data", "json_text"),
        [("hello", '"hello"'), ('{"a":1}', '"{\\"a\\":1}"'), (3.5, "3.5"), ([], "[]")],
    )
    def test_data_keeps_its_type(self, data: Any, json_text: str) -> None:
        session = make()
        joined(session, "private-a")
        send(session, "client-x", data, channel="private-a")
        assert session.commands_received() == [ClientEvent("private-a", "client-x", json_text)]

    def test_missing_data_relays_null(self) -> None:
        session = make()
        joined(session, "private-a")
        send(session, "client-x", channel="private-a")
        assert session.commands_received() == [ClientEvent("private-a", "client-x", "null")]

    def assert_rejected(self, session: PusherSession, needle: str) -> None:
        code, message = error_of(session)
        assert code == 4301
        assert needle in message
        assert session.commands_received() == []
        send(session, "pusher:ping")  # still open
        assert one_frame(session)["event"] == "pusher:pong"

    def test_disabled(self) -> None:
        session = make(client_events=False)
        joined(session, "private-a")
        send(session, "client-x", {}, channel="private-a")
        self.assert_rejected(session, "enable client messages")

    def test_needs_channel(self) -> None:
        session = make()
        send(session, "client-x", {})
        self.assert_rejected(session, 'needs a "channel"')

    def test_public_channel(self) -> None:
        session = make()
        joined(session, "my-channel")
        send(session, "client-x", {}, channel="my-channel")
        self.assert_rejected(session, "only supported on private and presence channels")

    def test_encrypted_channel(self) -> None:
        session = make()
        joined(session, "private-encrypted-a")
        send(session, "client-x", {}, channel="private-encrypted-a")
        self.assert_rejected(session, "encrypted channels")

    def test_not_subscribed(self) -> None:
        session = make()
        send(session, "client-x", {}, channel="private-a")
        self.assert_rejected(session, "not subscribed to 'private-a'")

    def test_pending_is_not_subscribed(self) -> None:
        session = make()
        subscribe(session, "private-a")
        session.commands_received()
        send(session, "client-x", {}, channel="private-a")
        self.assert_rejected(session, "wait for pusher:subscription_succeeded")

    def test_event_name_limit(self) -> None:
        session = make(max_event_name_length=10)
        joined(session, "private-a")
        send(session, "client-abc", {}, channel="private-a")
        assert len(session.commands_received()) == 1
        send(session, "client-abcd", {}, channel="private-a")
        self.assert_rejected(session, "the limit is 10")

    def test_data_size_limit(self) -> None:
        session = make(max_client_event_bytes=10)
        joined(session, "private-a")
        send(session, "client-x", "12345678", channel="private-a")  # 10 bytes of JSON
        assert len(session.commands_received()) == 1
        send(session, "client-x", "123456789", channel="private-a")
        self.assert_rejected(session, "data is 11 bytes of JSON; the limit is 10")

    def test_data_size_counts_utf8_bytes(self) -> None:
        session = make(max_client_event_bytes=10)
        joined(session, "private-a")
        send(session, "client-x", "ééééé", channel="private-a")  # 12 bytes
        self.assert_rejected(session, "12 bytes")


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestClientEventRateLimit:
    """At most ``max_client_events_per_second`` per connection (Pusher: 10), in bursts of as
    many; the rest get 4301 and are dropped, and the connection stays open."""

    def make(self, rate: int) -> tuple[PusherSession, FakeClock]:
        clock = FakeClock()
        policy = SessionPolicy(
            key=KEY, secret=SECRET, client_events=True, max_client_events_per_second=rate
        )
        session = PusherSession(SOCKET_ID, policy, activity_timeout=30, clock=clock)
        joined(session, "private-a")
        return session, clock

    def burst(self, session: PusherSession, count: int) -> tuple[int, list[dict[str, Any]]]:
        for i in range(count):
            send(session, "client-typing", {"i": i}, channel="private-a")
        return len(session.commands_received()), frames(session)

    def test_a_burst_over_the_limit_is_cut_at_the_limit(self) -> None:
        session, _ = self.make(10)
        relayed, errors = self.burst(session, 25)
        assert relayed == 10
        assert len(errors) == 15
        assert {e["data"]["code"] for e in errors} == {4301}
        assert "at most 10 client events per second" in errors[0]["data"]["message"]
        assert "max_client_events_per_second" in errors[0]["data"]["message"]
        send(session, "pusher:ping")  # still open
        assert one_frame(session)["event"] == "pusher:pong"

    def test_the_allowance_comes_back_with_time(self) -> None:
        session, clock = self.make(10)
        assert self.burst(session, 10)[0] == 10
        clock.now += 0.5
        assert self.burst(session, 10)[0] == 5  # half a second: five more
        clock.now += 60
        assert self.burst(session, 20)[0] == 10  # never more than one second's worth

    def test_a_steady_rate_under_the_limit_always_passes(self) -> None:
        session, clock = self.make(10)
        for _ in range(100):
            clock.now += 0.1
            assert self.burst(session, 1) == (1, [])

    def test_zero_means_no_limit(self) -> None:
        session, _ = self.make(0)
        assert self.burst(session, 1000) == (1000, [])

    def test_rejected_events_do_not_use_the_allowance(self) -> None:
        session, _ = self.make(2)
        send(session, "client-x", {}, channel="private-b")  # not subscribed: 4301, not counted
        frames(session)
        assert self.burst(session, 2)[0] == 2


def test_subscription_errors_echo_at_most_200_characters_of_input() -> None:
    """100 KB of channel name (or channel_data) in is not 100 KB out."""
    session = PusherSession(
        "1.2", SessionPolicy(key="k", secret="s", client_events=True), activity_timeout=30
    )
    session.start()
    session.data_to_send()
    for name in ("x" * 100_000, "#" * 100_000):
        session.receive_text(json.dumps({"event": "pusher:subscribe", "data": {"channel": name}}))
        (reply,) = session.data_to_send()
        assert len(reply) < 600
        assert json.loads(reply)["channel"] == name[:200]
    data = {"channel": "private-a", "auth": "k:0", "channel_data": "x" * 90_000}
    session.receive_text(json.dumps({"event": "pusher:subscribe", "data": data}))
    (reply,) = session.data_to_send()
    assert len(reply) < 600 and "but got '0'" in reply
