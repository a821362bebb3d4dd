"""Pusher v7 codec: decoding client frames, encoding every server frame as pusher-js parses it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidings.errors import ConnectionRejected, MessageError
from tidings.protocol.pusher import codec


def pusher_js_decode(text: str) -> dict[str, Any]:
    """What pusher-js 8 ``Protocol.decodeMessage`` yields: a string ``data`` is JSON-parsed."""
    message: dict[str, Any] = json.loads(text)
    if isinstance(message.get("data"), str):
        try:
            message["data"] = json.loads(message["data"])
        except ValueError:
            pass
    return message


class TestDecode:
    """Client frames: one JSON object with a string ``event``."""

    def test_full_message(self) -> None:
        message = codec.decode('{"event":"client-x","channel":"private-a","data":{"k":[1]}}')
        assert message == codec.IncomingMessage("client-x", "private-a", {"k": [1]})

    def test_event_only(self) -> None:
        assert codec.decode('{"event":"pusher:ping"}') == codec.IncomingMessage("pusher:ping")

    def test_null_channel_is_absent(self) -> None:
        assert codec.decode('{"event":"e","channel":null}').channel is None

    @pytest.mark.parametrize(
        ("text", "needle"),
        [
            ("{not json", "not valid JSON"),
            ("", "not valid JSON"),
            ("\ud800", "not valid JSON"),
            ("[1, 2]", "got a JSON array"),
            ('"text"', "got a JSON string"),
            ("12", "got a JSON number"),
            ("true", "got a JSON boolean"),
            ("null", "got a JSON null"),
            ('{"data":{}}', 'no "event"'),
            ('{"event":null}', 'no "event"'),
            ('{"event":7}', '"event" must be a string, got a JSON number'),
            ('{"event":{"a":1}}', '"event" must be a string, got a JSON object'),
            ('{"event":"e","channel":["c"]}', '"channel" must be a string, got a JSON array'),
        ],
    )
    def test_bad_frames_name_the_problem(self, text: str, needle: str) -> None:
        with pytest.raises(MessageError) as info:
            codec.decode(text)
        assert needle in info.value.message
        assert info.value.pusher_code is None
        assert info.value.close is False


class TestEncode:
    """Server frames, checked as raw JSON and as pusher-js decodes them."""

    def test_event_inserts_data_verbatim(self) -> None:
        text = codec.encode_event("e", "c", '"x"')
        assert text == '{"event":"e","channel":"c","data":"x"}'

    def test_event_with_object_data_and_user_id(self) -> None:
        text = codec.encode_event("client-e", "presence-a", '{"a":1}', "u\u00e9")
        assert json.loads(text) == {
            "event": "client-e",
            "channel": "presence-a",
            "data": {"a": 1},
            "user_id": "u\u00e9",
        }

    def test_event_without_channel(self) -> None:
        assert codec.encode_event("e", None, "null") == '{"event":"e","data":null}'

    def test_event_escapes_names(self) -> None:
        text = codec.encode_event('a"b', "c\\d", "1")
        assert json.loads(text) == {"event": 'a"b', "channel": "c\\d", "data": 1}

    def test_connection_established_data_is_a_string(self) -> None:
        text = codec.encode_connection_established("123.456", 30)
        raw = json.loads(text)
        assert raw["event"] == "pusher:connection_established"
        assert isinstance(raw["data"], str)
        assert json.loads(raw["data"]) == {"socket_id": "123.456", "activity_timeout": 30}

    def test_error_with_and_without_code(self) -> None:
        assert json.loads(codec.encode_error("nope", 4009)) == {
            "event": "pusher:error",
            "data": {"code": 4009, "message": "nope"},
        }
        assert json.loads(codec.encode_error("nope", None))["data"]["code"] is None

    def test_subscription_succeeded_plain(self) -> None:
        raw = json.loads(codec.encode_subscription_succeeded("my-channel", None))
        assert raw == {
            "event": "pusher_internal:subscription_succeeded",
            "channel": "my-channel",
            "data": "{}",
        }

    def test_subscription_succeeded_presence(self) -> None:
        members = {"1": {"name": "Ann"}, "2": None}
        text = codec.encode_subscription_succeeded("presence-room", members)
        raw = json.loads(text)
        assert isinstance(raw["data"], str)
        assert pusher_js_decode(text)["data"] == {
            "presence": {"ids": ["1", "2"], "hash": members, "count": 2}
        }

    def test_subscription_succeeded_presence_empty(self) -> None:
        text = codec.encode_subscription_succeeded("presence-room", {})
        assert pusher_js_decode(text)["data"] == {"presence": {"ids": [], "hash": {}, "count": 0}}

    def test_subscription_error(self) -> None:
        assert json.loads(
            codec.encode_subscription_error("private-a", "AuthError", "bad", 401)
        ) == {
            "event": "pusher:subscription_error",
            "channel": "private-a",
            "data": {"type": "AuthError", "error": "bad", "status": 401},
        }

    def test_member_added_and_removed(self) -> None:
        added = codec.encode_member_added("presence-a", "7", {"n": "x"})
        assert isinstance(json.loads(added)["data"], str)
        assert pusher_js_decode(added) == {
            "event": "pusher_internal:member_added",
            "channel": "presence-a",
            "data": {"user_id": "7", "user_info": {"n": "x"}},
        }
        removed = codec.encode_member_removed("presence-a", "7")
        assert isinstance(json.loads(removed)["data"], str)
        assert pusher_js_decode(removed) == {
            "event": "pusher_internal:member_removed",
            "channel": "presence-a",
            "data": {"user_id": "7"},
        }

    def test_member_data_is_a_json_string_literal(self) -> None:
        """The hub publishes this text as Publication.data; it decodes to a JSON string."""
        added = json.loads(codec.member_added_data("7", None))
        assert json.loads(added) == {"user_id": "7", "user_info": None}
        assert json.loads(json.loads(codec.member_removed_data("7"))) == {"user_id": "7"}

    def test_ping_pong(self) -> None:
        assert json.loads(codec.encode_ping()) == {"event": "pusher:ping", "data": {}}
        assert json.loads(codec.encode_pong()) == {"event": "pusher:pong", "data": {}}

    def test_cache_miss(self) -> None:
        assert json.loads(codec.encode_cache_miss("cache-a")) == {
            "event": "pusher:cache_miss",
            "channel": "cache-a",
        }

    def test_signin_success(self) -> None:
        assert json.loads(codec.encode_signin_success('{"id":"1"}')) == {
            "event": "pusher:signin_success",
            "data": {"user_data": '{"id":"1"}'},
        }

    def test_subscription_count(self) -> None:
        text = codec.encode_subscription_count("my-channel", 3)
        assert isinstance(json.loads(text)["data"], str)
        assert pusher_js_decode(text) == {
            "event": "pusher_internal:subscription_count",
            "channel": "my-channel",
            "data": {"subscription_count": 3},
        }


class TestProtocolVersion:
    """The ``protocol`` query parameter (Pusher error codes 4006-4008)."""

    @pytest.mark.parametrize("value", ["5", "6", "7", "07"])
    def test_supported(self, value: str) -> None:
        assert codec.parse_protocol_version(value) == int(value)

    @pytest.mark.parametrize(
        ("value", "code"),
        [
            (None, 4008),
            ("", 4008),
            ("seven", 4006),
            ("7.0", 4006),
            ("-7", 4006),
            ("\u0667", 4006),  # Arabic-Indic seven: a digit to str.isdigit, not to us
            ("4", 4007),
            ("8", 4007),
            ("9" * 5000, 4007),
        ],
    )
    def test_rejected(self, value: str | None, code: int) -> None:
        with pytest.raises(ConnectionRejected) as info:
            codec.parse_protocol_version(value)
        assert info.value.pusher_code == code
        assert "protocol=7" in info.value.hint


def test_watchlist_events_frame() -> None:
    """pusher-js reads data.events[].name / user_ids (data is a JSON-encoded string)."""
    frame = json.loads(codec.encode_watchlist_events("online", ["a", "b"]))
    assert frame["event"] == "pusher_internal:watchlist_events"
    assert "channel" not in frame
    assert json.loads(frame["data"]) == {"events": [{"name": "online", "user_ids": ["a", "b"]}]}
