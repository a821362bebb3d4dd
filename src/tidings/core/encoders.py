"""Frame encoders per wire protocol, used by the hub to encode a publication once."""

from __future__ import annotations

from tidings.core.model import Publication
from tidings.protocol.frames import text_frame
from tidings.protocol.pusher.codec import encode_event

__all__ = ["pusher_frame"]


def pusher_frame(pub: Publication) -> bytes:
    """The Pusher v7 event frame for ``pub``, ready to write to any connection."""
    return text_frame(encode_event(pub.event, pub.channel, pub.data, pub.user_id))
