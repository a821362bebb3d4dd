"""What a client's WebSocket frames mean: the events the frame reader yields.

:class:`~tidings.protocol.rfc6455.FrameReader` yields one immutable value per whole
message or control frame, as h11's and wsproto's events are: the shell dispatches on
the type (``match event: case Text(text): ...``) and never looks at an opcode or
casts a payload. Values the reader built are not re-validated: a ``Text`` holds
checked UTF-8, a ``Close`` a code a client may send.

Don't subclass these: the shell matches on the exact types.
"""

from __future__ import annotations

from dataclasses import dataclass

from tidings.protocol.frames import pong_frame

__all__ = ["Binary", "Close", "Event", "Ping", "Pong", "Text"]


@dataclass(frozen=True, slots=True)
class Text:
    """A whole text message (its fragments joined), valid UTF-8."""

    text: str


@dataclass(frozen=True, slots=True)
class Binary:
    """A whole binary message (its fragments joined)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Ping:
    """A ping; RFC 6455 5.5.2 wants a pong with the same payload."""

    payload: bytes

    def pong_frame(self) -> bytes:
        """The pong that answers this ping: write it after the frames already queued."""
        return pong_frame(self.payload)


@dataclass(frozen=True, slots=True)
class Pong:
    """A pong (an answer to our ping, or an unsolicited heartbeat): proof of life only."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """The client's close frame.

    Attributes:
        code: the close code it sent; 1005 when it sent none (RFC 6455 7.1.5).
        reason: the reason it gave (valid UTF-8, possibly empty).
    """

    code: int
    reason: str = ""


#: Everything :meth:`~tidings.protocol.rfc6455.FrameReader.feed` may return.
Event = Text | Binary | Ping | Pong | Close
