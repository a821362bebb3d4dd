"""History on the Pusher wire: positions in frames, ``position`` in ``pusher:subscribe``.

Spec: DESIGN.md 8.1 (top-level ``serial`` / ``stream_id`` on events of a history channel,
the position on ``subscription_succeeded``, recovery requested with ``position``).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tidings.domain.messages import Publication
from tidings.protocol.commands import Subscribe
from tidings.protocol.pusher import codec
from tidings.typing import AppId, ChannelName
from tidings.wires.pusher import pusher_frame

from .test_session import frames, make, send

STREAM = "0123456789abcdef"


def test_kept_event_carries_serial_and_stream_id_top_level() -> None:
    """A kept publication's frame has serial and stream_id beside event, channel, data."""
    pub = Publication(AppId("1"), ChannelName("chat"), "msg", '"hi"', serial=7, stream_id=STREAM)
    frame = pusher_frame(pub)
    assert frame is not None
    text = codec.encode_event("msg", "chat", '"hi"', None, 7, STREAM)
    assert text.encode() in frame
    assert json.loads(text) == {
        "event": "msg",
        "channel": "chat",
        "data": "hi",
        "serial": 7,
        "stream_id": STREAM,
    }


def test_event_without_serial_is_unchanged() -> None:
    """Channels without history keep today's bytes."""
    assert (
        codec.encode_event("msg", "chat", '"hi"') == '{"event":"msg","channel":"chat","data":"hi"}'
    )


def test_subscription_succeeded_carries_the_position() -> None:
    """Top-level and in data (non-presence); presence data keeps its shape."""
    text = codec.encode_subscription_succeeded("chat", None, (3, STREAM), True)
    frame = json.loads(text)
    assert frame["serial"] == 3 and frame["stream_id"] == STREAM and frame["recovered"] is True
    assert json.loads(frame["data"]) == {"serial": 3, "stream_id": STREAM, "recovered": True}
    presence = json.loads(codec.encode_subscription_succeeded("presence-x", {"u": 1}, (0, STREAM)))
    assert presence["serial"] == 0 and "recovered" not in presence
    assert set(json.loads(presence["data"])) == {"presence"}
    plain = codec.encode_subscription_succeeded("chat", None)
    assert json.loads(plain)["data"] == "{}" and "serial" not in json.loads(plain)


def test_subscribe_with_position_carries_it_in_the_command() -> None:
    """A valid position reaches the shell with the Subscribe command."""
    session = make()
    send(
        session,
        "pusher:subscribe",
        {"channel": "chat", "position": {"serial": 5, "stream_id": STREAM}},
    )
    assert session.commands_received() == [Subscribe("chat", position=(5, STREAM))]
    assert frames(session) == []


@pytest.mark.parametrize(
    ("position", "message"),
    [
        ("5", '"position" must be a JSON object'),
        ({"serial": -1, "stream_id": STREAM}, '"position.serial" must be a non-negative integer'),
        ({"serial": 1.5, "stream_id": STREAM}, '"position.serial" must be a non-negative integer'),
        ({"serial": True, "stream_id": STREAM}, '"position.serial" must be a non-negative integer'),
        ({"stream_id": STREAM}, '"position.serial" must be a non-negative integer'),
        ({"serial": 1, "stream_id": "1-0"}, '"position.stream_id" must be a stream id'),
        ({"serial": 1}, '"position.stream_id" must be a stream id'),
    ],
)
def test_bad_position_is_a_subscription_error_and_nothing_else(position: Any, message: str) -> None:
    """Bad input: subscription_error for that channel; no command; other channels unaffected."""
    session = make()
    send(session, "pusher:subscribe", {"channel": "chat", "position": position})
    assert session.commands_received() == []
    (error,) = frames(session)
    assert error["event"] == "pusher:subscription_error" and error["channel"] == "chat"
    assert error["data"]["type"] == "InvalidPosition" and error["data"]["status"] == 400
    assert message in error["data"]["error"]
    assert "chat" not in session.channels
    send(session, "pusher:subscribe", {"channel": "news"})
    assert session.commands_received() == [Subscribe("news")]


def test_subscribed_with_position_and_recovered() -> None:
    """The shell's answer puts the position and the outcome on the confirmation."""
    session = make()
    send(session, "pusher:subscribe", {"channel": "chat"})
    session.commands_received()
    session.subscribed("chat", None, position=(9, STREAM), recovered=False)
    (frame,) = frames(session)
    assert frame["event"] == "pusher_internal:subscription_succeeded"
    assert (frame["serial"], frame["stream_id"], frame["recovered"]) == (9, STREAM, False)
