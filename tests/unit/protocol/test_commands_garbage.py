"""Whatever a client sends, the sans-I/O sessions answer in protocol and never raise.

Property-based (hypothesis): arbitrary text, arbitrary JSON, and messages shaped like
the real ones with wrong values where the real ones have right values. Every reply must
be a JSON object a client library can parse; every command one the shell knows; and a
session that did not close must still answer a ping.
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidings.protocol.commands import ClientEvent, Close, SignIn, Subscribe, Unsubscribe
from tidings.protocol.piesocket.session import open_session
from tidings.protocol.pusher.session import PusherSession, SessionPolicy
from tidings.protocol.signing import channel_auth

KEY, SECRET, SOCKET_ID = "app-key", "app-secret", "1.2"
KNOWN_COMMANDS = (ClientEvent, Close, SignIn, Subscribe, Unsubscribe)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)
channels = st.sampled_from(
    ["news", "private-a", "presence-r", "private-encrypted-x", "cache-c", "#bad", "", "a" * 300]
) | st.text(max_size=20)
events = st.sampled_from(
    [
        "pusher:ping",
        "pusher:pong",
        "pusher:subscribe",
        "pusher:unsubscribe",
        "pusher:signin",
        "pusher:nonsense",
        "pusher_internal:member_added",
        "client-typing",
        "client-",
        "my-event",
    ]
) | st.text(max_size=30)


@st.composite
def pusher_like(draw: st.DrawFn) -> str:
    """A message with Pusher's shape, each field sometimes right and sometimes wrong."""
    channel = draw(channels)
    data: Any = draw(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"channel": st.just(channel) | channels},
                optional={
                    "auth": st.sampled_from(
                        [channel_auth(KEY, SECRET, SOCKET_ID, channel), "app-key:00", ""]
                    )
                    | st.text(max_size=10),
                    "channel_data": st.sampled_from(['{"user_id":"u1"}', '{"user_id":7}', "{"])
                    | json_values,
                    "user_data": st.sampled_from(['{"id":"u"}', "{}", "x"]) | json_values,
                },
            ),
        )
    )
    message: dict[str, Any] = {"event": draw(events), "data": data}
    if draw(st.booleans()):
        message["channel"] = channel
    if draw(st.booleans()):
        message["data"] = json.dumps(data)  # some clients double-encode
    return json.dumps(message)


def new_session(*, joined: bool = False) -> PusherSession:
    """A started session; with ``joined``, already on ``private-a`` and ``presence-r``."""
    policy = SessionPolicy(key=KEY, secret=SECRET, client_events=True)
    session = PusherSession(SOCKET_ID, policy, activity_timeout=30)
    session.start()
    if joined:
        presence = '{"user_id":"u1"}'
        for channel, channel_data in (("private-a", None), ("presence-r", presence)):
            data: dict[str, Any] = {"channel": channel}
            data["auth"] = channel_auth(KEY, SECRET, SOCKET_ID, channel, channel_data)
            if channel_data:
                data["channel_data"] = channel_data
            session.receive_text(json.dumps({"event": "pusher:subscribe", "data": data}))
        assert not drain(session)
    session.data_to_send()
    return session


def drain(session: PusherSession) -> bool:
    """Check the session's output; True when it asked to close."""
    closed = False
    for command in session.commands_received():
        assert isinstance(command, KNOWN_COMMANDS)
        if isinstance(command, Subscribe):
            session.subscribed(command.channel, {} if command.user_id is not None else None)
        closed = closed or isinstance(command, Close)
    for text in session.data_to_send():
        frame = orjson.loads(text)
        assert isinstance(frame, dict) and isinstance(frame["event"], str)
    return closed


def feed(session: PusherSession, texts: list[str]) -> None:
    """Send each text and check the output; unless the session closed, it still answers ping."""
    for text in texts:
        session.receive_text(text)
        if drain(session):
            return
    session.receive_text('{"event":"pusher:ping","data":{}}')
    assert [orjson.loads(t)["event"] for t in session.data_to_send()] == ["pusher:pong"]


many = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@many
@given(st.lists(st.text(max_size=200), max_size=5))
def test_any_text_is_answered_without_raising(texts: list[str]) -> None:
    feed(new_session(), texts)


@many
@given(st.lists(json_values.map(json.dumps), max_size=5))
def test_any_json_is_answered_without_raising(texts: list[str]) -> None:
    feed(new_session(), texts)


@many
@given(st.lists(pusher_like(), min_size=1, max_size=8), st.booleans())
def test_pusher_shaped_garbage_is_answered_without_raising(texts: list[str], joined: bool) -> None:
    feed(new_session(joined=joined), texts)


@many
@given(st.lists(st.text(max_size=200) | json_values.map(json.dumps), max_size=5))
def test_piesocket_session_answers_anything_without_raising(texts: list[str]) -> None:
    session = open_session(
        "chat",
        {},
        jwt_header=None,
        secret="a-secret-long-enough-for-hs256-keys!",
        socket_id=SOCKET_ID,
        now=0.0,
        client_messages=True,
        max_message_bytes=1000,
        max_messages_per_second=0,
    )
    for text in texts:
        session.receive_text(text)
        for command in session.commands_received():
            assert isinstance(command, ClientEvent)
            assert command.meta is not None
            orjson.loads(command.data), orjson.loads(command.meta)  # valid JSON texts
        for reply in session.data_to_send():
            assert "error" in orjson.loads(reply)
