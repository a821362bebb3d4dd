"""Client-to-server WebSocket frames (RFC 6455), read without I/O.

``FrameReader`` turns the bytes a client sent after its upgrade into events
(:mod:`tidings.protocol.wsevents`): whole text messages (checked UTF-8), binary
messages, pings, pongs and the close frame. Fragmented messages are joined;
control frames may arrive between the fragments. A violation of the RFC, or of
the reader's limits, raises ``ProtocolViolation`` with the close code the server
must send (1002 protocol error, 1007 invalid UTF-8, 1009 too big) and the reader
takes no more bytes. The server sends its own frames with
``tidings.protocol.frames``: only reading needs state.

Memory is bounded by the message limit, not by what a client sends: the
fragments of a message are joined as they arrive into one ``bytearray`` (never
kept as a list of fragments, whose per-object overhead an attacker could grow
with empty or 1-byte fragments), and a message may have at most
``max_fragments`` fragments. So one reader holds at most ``max_message`` bytes
plus one frame header (:attr:`FrameReader.held_bytes`). Between messages it
holds no buffer, so an idle connection costs about a hundred bytes here.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from tidings.protocol.wsevents import Binary, Close, Event, Ping, Pong, Text

__all__ = [
    "BINARY",
    "CLOSE",
    "MAX_FRAGMENTS",
    "PING",
    "PONG",
    "TEXT",
    "FrameReader",
    "ProtocolViolation",
    "accept_key",
    "close_code_problem",
    "valid_client_key",
]

TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_CONTINUATION: Final = 0x0

PROTOCOL_ERROR: Final = 1002
INVALID_DATA: Final = 1007
TOO_BIG: Final = 1009

#: Fragments one message may have by default: far more than any client library
#: sends (browsers never fragment; others fragment large messages into frames of
#: kilobytes), while a flood of empty continuation frames ends quickly.
MAX_FRAGMENTS: Final = 1024

_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_MAX_CONTROL_PAYLOAD: Final = 125

# Codes a client may send (RFC 6455 §7.4.1 and IANA's registry); 3000-4999 are
# for libraries and applications.
_SENDABLE_CLOSE_CODES: Final = frozenset(
    (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
)


class ProtocolViolation(Exception):
    """The client broke RFC 6455: fail the connection with ``code``.

    Attributes:
        code: the close code to send (1002, 1007 or 1009).
        reason: what was wrong, for the close frame and the log.
    """

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def accept_key(client_key: str) -> str:
    """The ``Sec-WebSocket-Accept`` answer to a ``Sec-WebSocket-Key`` (§4.2.2)."""
    digest = hashlib.sha1(client_key.encode() + _GUID).digest()  # noqa: S324 (the RFC's hash)
    return base64.b64encode(digest).decode()


def valid_client_key(client_key: str) -> bool:
    """Whether ``client_key`` is base64 of 16 bytes, as §4.1 requires."""
    try:
        return len(base64.b64decode(client_key, validate=True)) == 16
    except ValueError:
        return False


def close_code_problem(code: int) -> str | None:
    """Why a client may not send close ``code``, or ``None`` when it may."""
    if code in _SENDABLE_CLOSE_CODES or 3000 <= code <= 4999:
        return None
    if code in (1005, 1006, 1015):
        return f"close code {code} is reserved: an endpoint must not send it (RFC 6455 7.4.1)"
    return f"close code {code} is not defined (RFC 6455 7.4)"


def _unmask(mask: bytes | bytearray, payload: bytes | bytearray) -> bytes:
    # One big-integer XOR runs in C: far faster than a byte loop in Python.
    size = len(payload)
    if not size:
        return b""
    key = (mask * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")).to_bytes(
        size, "little"
    )


def _close_event(payload: bytes) -> Close:
    if not payload:
        return Close(1005)
    if len(payload) == 1:
        raise ProtocolViolation(
            PROTOCOL_ERROR, "a close frame body is a 2-byte code and a reason, not 1 byte"
        )
    code = int.from_bytes(payload[:2], "big")
    problem = close_code_problem(code)
    if problem is not None:
        raise ProtocolViolation(PROTOCOL_ERROR, problem)
    try:
        return Close(code, payload[2:].decode())
    except UnicodeDecodeError:
        raise ProtocolViolation(INVALID_DATA, "the close reason is not valid UTF-8") from None


class FrameReader:
    """Reads the frames of one client connection.

    Two limits bound what one message may cost, and both close with 1009
    ("message too big", RFC 6455 7.4.1): its bytes, all fragments together, and
    its number of fragments. 1009 rather than 1008 (policy violation): RFC 6455
    names 1008 the generic code for when no more specific one fits, and a
    message in too many pieces is too big to process in the same sense as one
    with too many bytes; the close reason says which limit it passed.

    Args:
        max_message: the largest message (all fragments together) accepted, in
            bytes; a larger one is refused with 1009 as soon as its header says so.
        max_fragments: the most frames one message may come in; the frame past
            it is refused with 1009.
    """

    __slots__ = (
        "_buffer",
        "_fragment_count",
        "_fragment_opcode",
        "_partial",
        "max_fragments",
        "max_message",
    )

    def __init__(self, max_message: int, *, max_fragments: int = MAX_FRAGMENTS) -> None:
        self.max_message = max_message
        self.max_fragments = max_fragments
        self._buffer: bytearray | None = None  # the start of a frame not complete yet
        self._partial: bytearray | None = None  # a fragmented message's payload so far
        self._fragment_opcode = 0
        self._fragment_count = 0

    @property
    def held_bytes(self) -> int:
        """Bytes held between calls: an unfinished frame and an unfinished message.

        At most ``max_message`` plus a frame header (14 bytes): the header of
        the unfinished frame is checked against what the message holds already.
        """
        held = 0 if self._buffer is None else len(self._buffer)
        return held + (0 if self._partial is None else len(self._partial))

    def feed(self, data: bytes) -> list[Event]:
        """The events ``data`` completes, in order.

        Raises:
            ProtocolViolation: the first violation found; events before it in
                ``data`` are lost with the connection.
        """
        buffer: bytes | bytearray = data
        if self._buffer is not None:
            self._buffer += data
            buffer = self._buffer
        events: list[Event] = []
        end = len(buffer)
        pos = 0
        while end - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 6
            if length == 126:
                header = 8
                if end - pos < header:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
            elif length == 127:
                header = 14
                if end - pos < header:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
            self._check_header(first, second, length)
            if end - pos < header + length:
                break
            start = pos + header
            payload = _unmask(buffer[start - 4 : start], buffer[start : start + length])
            pos = start + length
            event = self._event(first, payload)
            if event is not None:
                events.append(event)
        # Keep only the incomplete frame, in a bytearray that grows in place: a
        # client dribbling a big frame a byte at a time costs no copy per read.
        if pos >= end:
            self._buffer = None
        elif buffer is self._buffer:
            del self._buffer[:pos]
        else:
            self._buffer = bytearray(buffer[pos:])
        return events

    def _check_header(self, first: int, second: int, length: int) -> None:
        """Refuse a frame on its header alone (before its payload arrives)."""
        opcode = first & 0x0F
        if first & 0x70:
            raise ProtocolViolation(PROTOCOL_ERROR, "reserved bits set: no extension was agreed")
        if not second & 0x80:
            raise ProtocolViolation(PROTOCOL_ERROR, "client frames must be masked (RFC 6455 5.1)")
        if opcode >= CLOSE:
            if opcode not in (CLOSE, PING, PONG):
                raise ProtocolViolation(PROTOCOL_ERROR, f"unknown control opcode {opcode:#x}")
            if not first & 0x80:
                raise ProtocolViolation(PROTOCOL_ERROR, "control frames must not be fragmented")
            if length > _MAX_CONTROL_PAYLOAD:
                raise ProtocolViolation(
                    PROTOCOL_ERROR, "control frame payloads are at most 125 bytes"
                )
            return
        if opcode not in (_CONTINUATION, TEXT, BINARY):
            raise ProtocolViolation(PROTOCOL_ERROR, f"unknown data opcode {opcode:#x}")
        partial = self._partial
        if opcode == _CONTINUATION and partial is None:
            raise ProtocolViolation(PROTOCOL_ERROR, "continuation frame without a message")
        if opcode != _CONTINUATION and partial is not None:
            raise ProtocolViolation(
                PROTOCOL_ERROR, "new message before the fragmented one was finished"
            )
        size = length if partial is None else len(partial) + length
        if size > self.max_message:
            raise ProtocolViolation(
                TOO_BIG, f"message of {size} bytes is over the {self.max_message}-byte limit"
            )
        if partial is not None and self._fragment_count >= self.max_fragments:
            raise ProtocolViolation(
                TOO_BIG,
                f"message in more than {self.max_fragments} fragments; "
                "send it in fewer, larger frames",
            )

    def _event(self, first: int, payload: bytes) -> Event | None:
        opcode = first & 0x0F
        if opcode >= CLOSE:
            if opcode == PING:
                return Ping(payload)
            if opcode == PONG:
                return Pong(payload)
            return _close_event(payload)
        data: bytes | bytearray = payload
        if opcode == _CONTINUATION:
            partial = self._partial
            assert partial is not None  # _check_header made sure
            partial += payload
            self._fragment_count += 1
            if not first & 0x80:
                return None  # more fragments to come
            data, opcode = partial, self._fragment_opcode
            self._partial = None
            self._fragment_count = 0
        elif not first & 0x80:  # the first fragment: keep it until the final one
            self._partial = bytearray(payload)
            self._fragment_opcode = opcode
            self._fragment_count = 1
            return None
        if opcode == BINARY:
            return Binary(bytes(data))
        try:
            return Text(data.decode())
        except UnicodeDecodeError:
            raise ProtocolViolation(INVALID_DATA, "a text message is not valid UTF-8") from None
