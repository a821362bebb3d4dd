"""The client-message rule, without sockets: which client messages Pusher subscribers see,
and that the rule's inputs survive the trip between nodes."""

from __future__ import annotations

import pytest

from tidings.broker.redis import decode_message, encode_message
from tidings.domain.channels import client_event_allowed
from tidings.domain.messages import Publication
from tidings.typing import AppId, ChannelName
from tidings.wires.pusher import pusher_frame


@pytest.mark.parametrize(
    ("event", "channel", "allowed"),
    [
        ("client-typing", "private-ops", True),
        ("client-typing", "presence-room", True),
        ("client-typing", "private-cache-ops", True),
        ("client-typing", "orders", False),  # public: never to Pusher clients
        ("order-shipped", "cache-orders", False),
        ("deploy-done", "private-ops", False),  # not client-*: would pass for a backend event
        ("client-plain", "private-encrypted-x", False),  # pusher-js would decrypt plaintext
        ("client-plain", "private-encrypted-cache-x", False),
        ("client-plain", "private-cache-encrypted-x", False),
    ],
)
def test_client_event_allowed(event: str, channel: str, allowed: bool) -> None:
    assert client_event_allowed(event, channel) is allowed
    pub = Publication(AppId("1"), ChannelName(channel), event, "1", from_client=True)
    assert (pusher_frame(pub) is not None) is allowed
    backend = Publication(AppId("1"), ChannelName(channel), event, "1")
    assert pusher_frame(backend) is not None  # the backend may publish anything


@pytest.mark.parametrize("from_client", [False, True])
def test_the_client_flag_crosses_nodes(from_client: bool) -> None:
    pub = Publication(AppId("1"), ChannelName("c"), "e", "1", from_client=from_client)
    assert decode_message(encode_message(pub, "n1", 7)) == ("n1", 7, pub)
