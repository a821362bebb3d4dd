"""The sans-I/O WebSocket frame reader: every RFC 6455 rule it enforces, byte by byte."""

from __future__ import annotations

import os
import random
import struct
import tracemalloc

import pytest

from tests.support.rawws import frame
from tidings.protocol import rfc6455
from tidings.protocol.rfc6455 import FrameReader, ProtocolViolation
from tidings.protocol.wsevents import Binary, Close, Ping, Pong, Text


def violation(reader: FrameReader, data: bytes) -> tuple[int, str]:
    with pytest.raises(ProtocolViolation) as caught:
        reader.feed(data)
    return caught.value.code, caught.value.reason


def test_text_binary_ping_pong_in_one_read() -> None:
    data = (
        frame(0x1, "héllo".encode()) + frame(0x2, b"\x00\xff") + frame(0x9, b"p") + frame(0xA, b"")
    )
    assert FrameReader(1000).feed(data) == [
        Text("héllo"),
        Binary(b"\x00\xff"),
        Ping(b"p"),
        Pong(b""),
    ]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_every_length_encoding_round_trips_split_anywhere(size: int) -> None:
    payload = os.urandom(size)
    data = frame(0x2, payload)
    cuts = {0, 1, 2, 3, 5, 9, 13, len(data) // 2, len(data) - 1}
    for cut in sorted(c for c in cuts if c < len(data)):
        reader = FrameReader(100_000)
        assert reader.feed(data[:cut]) == []
        assert reader.feed(data[cut:]) == [Binary(payload)]


def test_byte_by_byte_keeps_every_message() -> None:
    data = frame(0x1, b'{"event":"pusher:ping"}') * 3
    reader = FrameReader(1000)
    got = []
    for i in range(len(data)):
        got += reader.feed(data[i : i + 1])
    assert got == [Text('{"event":"pusher:ping"}')] * 3


def test_fragments_are_joined_with_control_frames_between() -> None:
    data = (
        frame(0x1, b"he", fin=False)
        + frame(0x9, b"x")
        + frame(0x0, b"ll", fin=False)
        + frame(0x0, b"o")
    )
    assert FrameReader(1000).feed(data) == [Ping(b"x"), Text("hello")]


def test_close_frames() -> None:
    reader = FrameReader(1000)
    assert reader.feed(frame(0x8, b"")) == [Close(1005, "")]
    assert FrameReader(1000).feed(frame(0x8, struct.pack("!H", 4000) + b"bye")) == [
        Close(4000, "bye")
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
    # Frames carry random masks: named by size, the ids are the same in every process
    # (pytest-xdist workers must collect the same tests).
    ids=lambda value: f"{len(value)}B" if isinstance(value, bytes) else None,
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


class TestWhatOneMessageMayHold:
    """Defect 2 of issue 25: fragments counted toward no limit and kept in a list.

    RFC 6455 5.4 lets a message come in any number of fragments; the reader
    bounds both the bytes it holds (the message limit, plus one frame header)
    and the fragments (``max_fragments``), and says which limit was passed (1009).
    """

    def test_empty_continuation_frames_end_with_1009_naming_the_fragments(self) -> None:
        """A flood of empty fragments (no bytes toward the size limit) is cut, not kept."""
        reader = FrameReader(1000)
        data = frame(0x1, b"", fin=False) + frame(0x0, b"", fin=False) * 5000
        code, reason = violation(reader, data)
        assert code == 1009
        assert f"more than {rfc6455.MAX_FRAGMENTS} fragments" in reason

    def test_a_message_of_exactly_max_fragments_fragments_is_read(self) -> None:
        """The limit is the last accepted count: max_fragments frames make one message."""
        fragments = [frame(0x1, b"a", fin=False)]
        fragments += [frame(0x0, b"b", fin=False)] * 6 + [frame(0x0, b"c")]
        assert FrameReader(1000, max_fragments=8).feed(b"".join(fragments)) == [
            Text("a" + "b" * 6 + "c")
        ]
        code, reason = violation(FrameReader(1000, max_fragments=7), b"".join(fragments))
        assert (code, "more than 7 fragments" in reason) == (1009, True)

    def test_control_frames_between_fragments_do_not_count_as_fragments(self) -> None:
        """Pings interleaved with a message's fragments are answered, not counted."""
        data = frame(0x1, b"a", fin=False) + (frame(0x9, b"") + frame(0x0, b"b", fin=False)) * 3
        data += frame(0x0, b"c")
        events = FrameReader(1000, max_fragments=5).feed(data)
        assert events == [Ping(b""), Ping(b""), Ping(b""), Text("abbbc")]

    def test_one_byte_fragments_hold_their_bytes_not_an_object_each(self) -> None:
        """1 000 one-byte fragments hold about 1 000 bytes (a list of bytes objects: ~40 KB)."""
        count = 1000
        data = frame(0x2, b"x", fin=False) + frame(0x0, b"y", fin=False) * (count - 1)
        reader = FrameReader(100_000, max_fragments=count + 1)
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            assert reader.feed(data) == []
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
        assert reader.held_bytes == count
        assert held < 4 * count, held  # the bytearray, with its growth slack
        assert reader.feed(frame(0x0, b"z")) == [Binary(b"x" + b"y" * (count - 1) + b"z")]
        assert reader.held_bytes == 0

    @pytest.mark.parametrize("limit", [5_000, 50_000])
    @pytest.mark.parametrize("seed", range(3))
    def test_held_bytes_never_pass_the_message_limit_plus_a_header(
        self, seed: int, limit: int
    ) -> None:
        """Any split of any fragmentation: at most max_message + 14 bytes held between reads."""
        rng = random.Random(seed)
        reader = FrameReader(limit)
        sizes = [rng.randrange(0, 400) for _ in range(60)]
        data = b"".join(
            frame(0x2 if i == 0 else 0x0, os.urandom(size), fin=False)
            for i, size in enumerate(sizes)
        )
        pos = 0
        try:
            while pos < len(data):
                step = rng.randrange(1, 3000)
                reader.feed(data[pos : pos + step])
                pos += step
                assert reader.held_bytes <= limit + 14
        except ProtocolViolation as exc:
            assert exc.code == 1009 and sum(sizes) > limit
        else:
            assert sum(sizes) <= limit and reader.held_bytes == sum(sizes)


def test_a_ping_event_knows_its_pong() -> None:
    """The pong echoes the ping's payload (RFC 6455 5.5.3), unmasked from the server."""
    (ping,) = FrameReader(1000).feed(frame(0x9, b"beat"))
    assert isinstance(ping, Ping)
    assert ping.pong_frame() == b"\x8a\x04beat"
