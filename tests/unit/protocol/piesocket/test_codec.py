"""PieSocket v3 codec, JWT check and session decisions, without sockets."""

from __future__ import annotations

from typing import Any

import jwt
import orjson
import pytest

from tidings.config import Settings
from tidings.domain.messages import MemberJoined, MemberLeft, Publication, SubscriptionCount
from tidings.errors import AuthError, ConnectionRejected, MessageError
from tidings.protocol.commands import ClientEvent, Close, Subscribe
from tidings.protocol.piesocket.auth import AUTH_FAILED, make_token, verify_token
from tidings.protocol.piesocket.codec import (
    channel_problem,
    decode_client_message,
    encode_member_event,
    member_view,
    publication_text,
)
from tidings.protocol.piesocket.session import V3Session, open_session, parse_flag
from tidings.snippets import snippet
from tidings.typing import AppId, ChannelName, UserId
from tidings.wires.piesocket import member_frame, piesocket_frame

NOW = 1_700_000_000.0
SECRET = "a-secret-long-enough-for-hs256-keys!"


def session_for(channel: str, **query: str) -> Any:
    return open_session(
        channel,
        query,
        jwt_header=query.pop("jwt_header", None),
        secret=SECRET,
        socket_id="1.2",
        now=NOW,
        client_messages=True,
        max_message_bytes=100,
    )


@pytest.mark.parametrize("channel", ["a", "chat-room_1", "x" * 30])
def test_valid_channel_ids(channel: str) -> None:
    assert channel_problem(channel) is None


@pytest.mark.parametrize("channel", ["", "x" * 31, "a.b", "a b", "é", "a#b"])
def test_invalid_channel_ids_say_the_rule(channel: str) -> None:
    problem = channel_problem(channel)
    assert problem is not None and "1-30 characters" in problem


def test_client_message_keeps_data_and_meta_json() -> None:
    message = decode_client_message('{"event":"e","data":{"a":[1]},"meta":"m"}', max_bytes=100)
    assert (message.event, message.data, message.meta) == ("e", '{"a":[1]}', '"m"')
    absent = decode_client_message('{"event":"e"}', max_bytes=100)
    assert (absent.data, absent.meta) == ("null", "null")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("nope", "not valid JSON"),
        ("1", "JSON object"),
        ('{"event": 3}', '"event"'),
        ('{"event": "pusher:subscribe"}', "reserved"),
        ('{"event": "system:x"}', "reserved"),
        ('{"event": "e", "data": "' + "é" * 60 + '"}', "too large"),
    ],
)
def test_bad_client_messages(text: str, words: str) -> None:
    with pytest.raises(MessageError, match=words):
        decode_client_message(text, max_bytes=100)


def test_member_views() -> None:
    assert member_view("ann", {"uuid": "u1"}) == {"uuid": "u1", "user": "ann"}
    assert member_view("pat", {"name": "Pat"}) == {
        "uuid": "pat",
        "user": "pat",
        "user_info": {"name": "Pat"},
    }
    assert member_view("x", None) == {"uuid": "x", "user": "x"}
    text = encode_member_event(False, "ann", {"uuid": "u1"}, {"bob": {"uuid": "u2"}})
    assert orjson.loads(text) == {
        "event": "system:member_left",
        "data": {
            "member": {"uuid": "u1", "user": "ann"},
            "members": [{"uuid": "u2", "user": "bob"}],
        },
    }


def test_pusher_publications_decode_json_strings_like_pusher_js() -> None:
    assert (
        publication_text("e", '"{\\"a\\":1}"', None) == '{"event":"e","data":{"a":1},"meta":null}'
    )
    assert publication_text("e", '"plain"', None) == '{"event":"e","data":"plain","meta":null}'
    assert publication_text("e", '"{broken"', None) == '{"event":"e","data":"{broken","meta":null}'
    # v3 messages (meta set) keep their data exactly as sent.
    assert publication_text("e", '"{\\"a\\":1}"', "null") == (
        '{"event":"e","data":"{\\"a\\":1}","meta":null}'
    )
    assert publication_text("pusher:cache_miss", "{}", None) is None


def test_member_changes_reach_only_presence_members_with_the_whole_list() -> None:
    app, channel, user = AppId("1"), ChannelName("c"), UserId("u")
    members = {"u": {"uuid": "x"}, "w": {"uuid": "y"}}
    joined = MemberJoined(app, channel, user, {"uuid": "x"}, members=members)
    frame = member_frame(joined)
    assert frame is not None
    message = orjson.loads(frame[frame.index(b"{") :])
    assert message["event"] == "system:member_joined"
    assert message["data"]["member"] == {"uuid": "x", "user": "u"}
    assert len(message["data"]["members"]) == 2
    left = member_frame(MemberLeft(app, channel, user, members={"w": None}, info={"uuid": "x"}))
    assert left is not None and b"system:member_left" in left and b'"uuid":"x"' in left
    # Not carried to v3 connections that are not members, nor without a roster.
    assert piesocket_frame(joined) is None
    assert member_frame(MemberJoined(app, channel, user)) is None
    assert piesocket_frame(SubscriptionCount(app, channel, 3)) is None


def test_piesocket_frame_for_events_and_internal_events() -> None:
    app, channel = AppId("1"), ChannelName("c")
    assert piesocket_frame(Publication(app, channel, "pusher_internal:other", "{}")) is None
    frame = piesocket_frame(Publication(app, channel, "e", "1", meta='{"m":1}'))
    assert frame is not None and frame.endswith(b'{"event":"e","data":1,"meta":{"m":1}}')
    assert member_frame(Publication(app, channel, "e", "1", meta="null")) == piesocket_frame(
        Publication(app, channel, "e", "1", meta="null")
    )


def test_tokens_verify_and_fail_with_piesocket_message() -> None:
    token = make_token(secret=SECRET, channel="private-x", now=NOW, user="ann")
    claims = verify_token(token, secret=SECRET, channel="private-x", now=NOW + 10)
    assert (claims.channel, claims.user) == ("private-x", "ann")
    cases = [
        (token, "private-y", NOW, "sub"),
        (token, "private-x", NOW + 3600, "expired"),
        (make_token(secret="other", channel="private-x", now=NOW), "private-x", NOW, "Signature"),
        (make_token(secret=SECRET, channel="private-x", now=NOW + 999), "private-x", NOW, "future"),
    ]
    for bad, channel, now, hint in cases:
        with pytest.raises(AuthError) as caught:
            verify_token(bad, secret=SECRET, channel=channel, now=now)
        assert caught.value.message == AUTH_FAILED and hint in caught.value.hint


def test_flags() -> None:
    assert [parse_flag("p", v) for v in (None, "0", "false", "1", "true", "TRUE")] == [
        False, False, False, True, True, True,
    ]  # fmt: skip
    with pytest.raises(ConnectionRejected, match="p=1"):
        parse_flag("p", "maybe")


def test_open_session_params() -> None:
    plain = session_for("chat", uuid="u1", user="ann", notify_self="1").params
    assert (plain.notify_self, plain.presence, plain.user, plain.uuid) == (True, False, "ann", "u1")
    header = make_token(secret=SECRET, channel="private-a", now=NOW, user="hd")
    assert session_for("private-a", jwt_header=header, user="q").params.user == "hd"
    signed = make_token(secret=SECRET, channel="chat", now=NOW, user="carl")
    assert session_for("chat", jwt=signed, user="q").params.user == "carl"


def test_on_guarded_channels_the_identity_is_only_the_signed_claim() -> None:
    bare = make_token(secret=SECRET, channel="presence-room", now=NOW)  # no user claim
    with pytest.raises(ConnectionRejected) as caught:
        session_for("presence-room", jwt=bare, user="admin")
    assert caught.value.pusher_code == 4009 and "user claim" in caught.value.hint
    private = make_token(secret=SECRET, channel="private-ops", now=NOW)
    with pytest.raises(ConnectionRejected):
        session_for("private-ops", jwt=private, presence="1", user="admin")
    quiet = session_for("private-ops", jwt=private, user="admin", uuid="u9").params
    assert not quiet.presence and quiet.user == "u9"  # the query's user= is ignored
    ann = make_token(secret=SECRET, channel="presence-room", now=NOW, user="ann")
    assert session_for("presence-room", jwt=ann, user="admin").params.user == "ann"


def test_nbf_is_honoured_with_a_small_leeway() -> None:
    def token(nbf: float | str) -> str:
        return jwt.encode({"sub": "private-x", "nbf": nbf}, SECRET, algorithm="HS256")

    assert verify_token(token(NOW + 30), secret=SECRET, channel="private-x", now=NOW)
    for bad in (NOW + 999, "soon"):
        with pytest.raises(AuthError) as caught:
            verify_token(token(bad), secret=SECRET, channel="private-x", now=NOW)
        assert caught.value.message == AUTH_FAILED and "nbf" in caught.value.hint


@pytest.mark.parametrize(
    ("channel", "query", "code"),
    [("bad.id", {}, 4005), ("private-a", {}, 4009), ("chat", {"jwt": "x"}, 4009),
     ("chat", {"user": "u" * 200}, 4005)],
)  # fmt: skip
def test_open_session_rejections(channel: str, query: dict[str, str], code: int) -> None:
    with pytest.raises(ConnectionRejected) as caught:
        session_for(channel, **query)
    assert caught.value.pusher_code == code


def test_session_replies_errors_and_stays_usable() -> None:
    session = session_for("chat")
    session.receive_text("junk")
    session.receive_binary(b"\x00")
    assert session.commands_received() == []
    errors = [orjson.loads(text)["error"] for text in session.data_to_send()]
    assert "not valid JSON" in errors[0] and "Binary" in errors[1]
    session.receive_text('{"event":"e","data":1}')
    assert session.commands_received() == [ClientEvent("chat", "e", "1", None, "null", False)]
    assert session.data_to_send() == []


def test_session_starts_by_subscribing_its_channel() -> None:
    plain = session_for("chat")
    plain.start()
    assert plain.commands_received() == [Subscribe("chat")]
    assert dict(plain.channels) == {"chat": None}
    member = session_for(
        "presence-room", jwt=make_token(secret=SECRET, channel="presence-room", now=NOW, user="ann")
    )
    member.start()
    assert member.commands_received() == [Subscribe("presence-room", "ann", {"uuid": "1.2"})]
    assert dict(member.channels) == {"presence-room": "ann"}
    member.subscribed("presence-room", {"ann": {"uuid": "1.2"}})
    boot, listing = member.data_to_send()
    assert boot == '{"event":"system:boot"}'  # ready, before the channel's state
    assert orjson.loads(listing)["event"] == "system:member_list"
    plain.subscribed("chat", None)
    assert plain.data_to_send() == ['{"event":"system:boot"}']


def test_refused_subscription_errors_then_closes_with_4100() -> None:
    from tidings.errors import SubscriptionError

    session = session_for("chat")
    session.subscription_refused("chat", SubscriptionError("full", kind="LimitReached"))
    assert [orjson.loads(t)["error"] for t in session.data_to_send()] == ["full"]
    assert session.commands_received() == [Close(4100, "full")]


def test_client_messages_over_the_rate_limit_get_an_error_and_are_dropped() -> None:
    now = [5.0]
    session = V3Session(
        session_for("chat").params,
        client_messages=True,
        max_message_bytes=100,
        max_messages_per_second=3,
        clock=lambda: now[0],
    )
    for i in range(5):
        session.receive_text(f'{{"event":"e","data":{i}}}')
    assert [c.data for c in session.commands_received()] == ["0", "1", "2"]  # type: ignore[union-attr]
    errors = [orjson.loads(text)["error"] for text in session.data_to_send()]
    assert len(errors) == 2 and "at most 3 messages per second" in errors[0]
    now[0] += 1.0
    session.receive_text('{"event":"e","data":9}')
    assert len(session.commands_received()) == 1


def test_snippet_piesocket_names_endpoint_and_key() -> None:
    text = snippet("piesocket", Settings.load())
    assert "clusterDomain: '127.0.0.1:6001'" in text and "apiKey: 'app-key'" in text
    assert "--tls-cert" in text  # piesocket-js needs wss
