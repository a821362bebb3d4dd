"""Server frames, parsed back by websockets' own sans-I/O client protocol."""

from __future__ import annotations

import pytest
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import Protocol, Side, State

from tidings.protocol.frames import close_frame, pong_frame, text_frame


def client_reads(data: bytes) -> list[Frame]:
    """What a real WebSocket client makes of ``data`` (it rejects masked server frames)."""
    client = Protocol(Side.CLIENT, state=State.OPEN, max_size=None)
    client.receive_data(data)
    assert client.parser_exc is None, client.parser_exc
    frames = client.events_received()
    assert all(isinstance(frame, Frame) for frame in frames)
    return [frame for frame in frames if isinstance(frame, Frame)]


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65535, 65536, 70000])
def test_text_frame_lengths(size: int) -> None:
    """Every length encoding (7-bit, 16-bit, 64-bit) parses back to the payload."""
    payload = "x" * size
    frame = text_frame(payload)
    header = 2 if size < 126 else 4 if size < 65536 else 10
    assert len(frame) == header + size
    [parsed] = client_reads(frame)
    assert parsed.opcode is Opcode.TEXT and parsed.fin
    assert bytes(parsed.data).decode() == payload


def test_text_frame_accepts_bytes_and_utf8() -> None:
    assert text_frame("é") == text_frame("é".encode())
    [parsed] = client_reads(text_frame('{"k":"é"}'))
    assert bytes(parsed.data).decode() == '{"k":"é"}'


def test_frames_concatenate() -> None:
    """One write of several frames: the coalescing writer relies on this."""
    parsed = client_reads(text_frame("a") + text_frame("bb") + text_frame("c" * 300))
    assert [bytes(f.data) for f in parsed] == [b"a", b"bb", b"c" * 300]


def test_close_frame() -> None:
    [parsed] = client_reads(close_frame(4009, "Connection is unauthorized"))
    assert parsed.opcode is Opcode.CLOSE
    assert Close.parse(bytes(parsed.data)) == Close(4009, "Connection is unauthorized")


def test_close_frame_without_reason() -> None:
    [parsed] = client_reads(close_frame(4200))
    assert Close.parse(bytes(parsed.data)) == Close(4200, "")


@pytest.mark.parametrize("reason", ["x" * 300, "é" * 100, "a" + "€" * 60])
def test_close_reason_is_cut_to_valid_utf8(reason: str) -> None:
    [parsed] = client_reads(close_frame(4100, reason))
    close = Close.parse(bytes(parsed.data))
    assert close.code == 4100
    assert 0 < len(close.reason.encode()) <= 123
    assert reason.startswith(close.reason)


def test_pong_echoes_the_ping_payload_unmasked() -> None:
    assert pong_frame(b"hi") == b"\x8a\x02hi"
    assert len(pong_frame(b"x" * 200)) == 2 + 125  # control frames carry at most 125 bytes
