"""Server-to-client WebSocket frames (RFC 6455 §5.2), built once and shared.

Frames a server sends are never masked, and tidings declines permessage-deflate,
so the bytes of one text frame are valid for every connection: the hub builds
them once per publication and writes the same object to each subscriber.
"""

from __future__ import annotations

import struct

__all__ = ["PING_FRAME", "close_frame", "pong_frame", "text_frame"]

_FIN_TEXT = 0x81
_FIN_CLOSE = 0x88
_FIN_PONG = 0x8A

#: An unmasked, empty ping frame.
PING_FRAME = b"\x89\x00"


def _header(opcode_byte: int, length: int) -> bytes:
    if length < 126:
        return bytes((opcode_byte, length))
    if length < 65536:
        return struct.pack("!BBH", opcode_byte, 126, length)
    return struct.pack("!BBQ", opcode_byte, 127, length)


def text_frame(payload: str | bytes) -> bytes:
    """One final, unmasked text frame carrying ``payload`` (UTF-8)."""
    data = payload.encode() if isinstance(payload, str) else payload
    return _header(_FIN_TEXT, len(data)) + data


def close_frame(code: int, reason: str = "") -> bytes:
    """An unmasked close frame; ``reason`` is cut to fit the 123-byte limit."""
    # Cut on bytes, then drop a split UTF-8 character: clients fail invalid reasons.
    body = struct.pack("!H", code) + reason.encode()[:123].decode(errors="ignore").encode()
    return _header(_FIN_CLOSE, len(body)) + body


def pong_frame(payload: bytes) -> bytes:
    """An unmasked pong echoing a client ping's ``payload`` (at most 125 bytes, RFC 6455 §5.5)."""
    body = payload[:125]
    return _header(_FIN_PONG, len(body)) + body
