"""Frame encoders per wire protocol, used by the hub to encode a publication once."""

from __future__ import annotations

from tidings.core.model import Publication
from tidings.protocol.frames import text_frame
from tidings.protocol.piesocket.codec import PresenceChange, presence_change, publication_text
from tidings.protocol.pusher.codec import encode_event

__all__ = ["PresenceFrame", "piesocket_frame", "pusher_frame"]


def pusher_frame(pub: Publication) -> bytes:
    """The Pusher v7 event frame for ``pub``, ready to write to any connection."""
    return text_frame(encode_event(pub.event, pub.channel, pub.data, pub.user_id))


class PresenceFrame(bytes):
    """An empty "frame" that tells a PieSocket connection a member joined or left.

    v3 presence events carry the whole member list, which the publication does not
    have, so each presence connection renders them from its own member view. Other
    connections drop it (it is empty).
    """

    change: PresenceChange


def piesocket_frame(pub: Publication) -> bytes:
    """The PieSocket v3 frame for ``pub``: a :class:`PresenceFrame` for member changes,
    ``b""`` (dropped) for Pusher-internal events."""
    change = presence_change(pub.event, pub.data)
    if change is not None:
        frame = PresenceFrame()
        frame.change = change
        return frame
    text = publication_text(pub.event, pub.data, pub.meta)
    return text_frame(text) if text is not None else b""
