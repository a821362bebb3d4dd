"""Sessions report what they refused (for logs, metrics and the console), once each."""

from __future__ import annotations

import json

from tests.unit.protocol.piesocket.test_codec import session_for
from tests.unit.protocol.pusher.test_session import make, send
from tidings.protocol.commands import Refusal


def data_of(text: str) -> dict[str, object]:
    data = json.loads(text)["data"]
    value: dict[str, object] = json.loads(data) if isinstance(data, str) else data
    return value


def test_pusher_session_reports_refused_subscriptions_and_errors() -> None:
    session = make()
    send(session, "pusher:subscribe", {"channel": "private-x", "auth": "app-key:bad"})
    (refused,) = session.refusals_sent()
    assert refused.channel == "private-x" and refused.code is None
    assert data_of(session.data_to_send()[0])["error"] == refused.message  # what it was told
    send(session, "client-typing", {}, channel="news")
    told = data_of(session.data_to_send()[0])["message"]
    assert session.refusals_sent() == [Refusal(str(told), 4301)]
    assert session.refusals_sent() == []
    send(session, "pusher:subscribe", {"channel": "news"})
    assert session.refusals_sent() == []


def test_piesocket_session_reports_errors() -> None:
    session = session_for("chat")
    session.receive_binary(b"\x00")
    session.receive_text("junk")
    messages = [json.loads(text)["error"] for text in session.data_to_send()]
    assert session.refusals_sent() == [Refusal(message) for message in messages]
    session.receive_text('{"event":"e","data":1}')
    assert session.refusals_sent() == []
