"""The sans-I/O WebSocket frame reader: every RFC 6455 rule it enforces, byte by byte."""

from __future__ import annotations

import os
import struct

import pytest

from tests.reliability.rawws import frame
from tidings.protocol import rfc6455
from tidings.protocol.rfc6455 import FrameReader, ProtocolViolation


def violation(reader: FrameReader, data: bytes) -> tuple[int, str]:
    with pytest.raises(ProtocolViolation) as caught:
        reader.feed(data)
    return caught.value.code, caught.value.reason


def test_text_binary_ping_pong_in_one_read() -> None:
    data = (
        frame(0x1, "héllo".encode()) + frame(0x2, b"\x00\xff") + frame(0x9, b"p") + frame(0xA, b"")
    )
    assert FrameReader(1000).feed(data) == [
        (rfc6455.TEXT, "héllo"),
        (rfc6455.BINARY, b"\x00\xff"),
        (rfc6455.PING, b"p"),
        (rfc6455.PONG, b""),
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_every_length_encoding_round_trips_split_anywhere(size: int) -> None:
    payload = os.urandom(size)
    data = frame(0x2, payload)
    cuts = {0, 1, 2, 3, 5, 9, 13, len(data) // 2, len(data) - 1}
    for cut in sorted(c for c in cuts if c < len(data)):
        reader = FrameReader(100_000)
        assert reader.feed(data[:cut]) == []
        assert reader.feed(data[cut:]) == [(rfc6455.BINARY, payload)]


def test_byte_by_byte_keeps_every_message() -> None:
    data = frame(0x1, b'{"event":"pusher:ping"}') * 3
    reader = FrameReader(1000)
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i : i + 1])
    assert got == [(rfc6455.TEXT, '{"event":"pusher:ping"}')] * 3


def test_fragments_are_joined_with_control_frames_between() -> None:
    data = (
        frame(0x1, b"he", fin=False)
        + frame(0x9, b"x")
        + frame(0x0, b"ll", fin=False)
        + frame(0x0, b"o")
    )
    assert FrameReader(1000).feed(data) == [(rfc6455.PING, b"x"), (rfc6455.TEXT, "hello")]


def test_close_frames() -> None:
    reader = FrameReader(1000)
    assert reader.feed(frame(0x8, b"")) == [(rfc6455.CLOSE, (1005, ""))]
    assert FrameReader(1000).feed(frame(0x8, struct.pack("!H", 4000) + b"bye")) == [
        (rfc6455.CLOSE, (4000, "bye"))
    ]


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (frame(0x1, b"x", masked=False), 1002, "masked"),
        (frame(0x1, b"x", rsv=0x40), 1002, "reserved bits"),
        (frame(0x3, b"x"), 1002, "unknown data opcode"),
        (frame(0xB, b"x"), 1002, "unknown control opcode"),
        (frame(0x9, b"x", fin=False), 1002, "fragmented"),
        (frame(0x9, b"x" * 126), 1002, "125 bytes"),
        (frame(0x0, b"x"), 1002, "continuation"),
        (frame(0x1, b"a", fin=False) + frame(0x1, b"b"), 1002, "fragmented one"),
        (frame(0x8, b"\x03"), 1002, "not 1 byte"),
        (frame(0x8, struct.pack("!H", 1005)), 1002, "reserved"),
        (frame(0x8, struct.pack("!H", 5000)), 1002, "not defined"),
        (frame(0x8, struct.pack("!H", 1000) + b"\xff"), 1007, "UTF-8"),
        (frame(0x1, b"\xc3("), 1007, "UTF-8"),
        (frame(0x1, b"a", fin=False) + frame(0x0, b"\xff"), 1007, "UTF-8"),
        (frame(0x2, b"x" * 101), 1009, "100-byte limit"),
        (frame(0x2, b"x" * 60, fin=False) + frame(0x0, b"x" * 60), 1009, "100-byte limit"),
    ],
)
def test_violations_name_the_close_code_and_the_rule(data: bytes, code: int, words: str) -> None:
    got_code, reason = violation(FrameReader(100), data)
    assert got_code == code
    assert words in reason


def test_an_oversized_frame_is_refused_on_its_header_alone() -> None:
    header = frame(0x2, b"x" * 200_000)[:14]  # 64-bit length, mask: no payload yet
    code, _ = violation(FrameReader(1000), header)
    assert code == 1009


def test_accept_key_is_the_rfc_example() -> None:
    assert rfc6455.accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    assert rfc6455.valid_client_key("dGhlIHNhbXBsZSBub25jZQ==")
    assert not rfc6455.valid_client_key("short")
    assert not rfc6455.valid_client_key("not base64 at all!!!!!==")


def test_an_idle_reader_holds_no_buffer() -> None:
    reader = FrameReader(1000)
    data = frame(0x1, b"hello")
    reader.feed(data[:3])
    reader.feed(data[3:])
    assert reader._buffer is None
