"""A raw RFC 6455 client over asyncio streams, for sending frames no library would send."""

from __future__ import annotations

import asyncio
import base64
import os
import struct

TIMEOUT = 5.0


def frame(
    opcode: int, payload: bytes, *, masked: bool = True, fin: bool = True, rsv: int = 0
) -> bytes:
    """One client frame; ``masked=False`` (RFC 6455 5.1) or ``rsv`` bits break the RFC."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    length = len(payload)
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def close_body(code: int, reason: bytes = b"") -> bytes:
    """The payload of a close frame with ``code``."""
    return struct.pack("!H", code) + reason


class RawWebSocket:
    """An upgraded connection: write raw bytes, read the server's frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, path: str, *, extra: bytes = b"") -> RawWebSocket:
        """Connect to 127.0.0.1:``port``, upgrade ``path`` (sending ``extra`` right behind it)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return await cls.wrap(reader, writer, port, path, extra=extra)

    @classmethod
    async def wrap(
        cls,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        port: int,
        path: str,
        *,
        extra: bytes = b"",
    ) -> RawWebSocket:
        """Upgrade ``path`` over an open connection."""
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        writer.write(request + extra)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_frame(self) -> tuple[int, bytes]:
        """The next server frame: ``(opcode, payload)``; server frames are never masked."""
        first, second = await asyncio.wait_for(self.reader.readexactly(2), TIMEOUT)
        assert not second & 0x80, "server frames must not be masked"
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self.reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self.reader.readexactly(8))
        payload = await asyncio.wait_for(self.reader.readexactly(length), TIMEOUT)
        return first & 0x0F, payload

    async def text(self) -> bytes:
        """The next text frame's payload (skipping pings)."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x1:
                return payload
            assert opcode == 0x9, f"expected a text frame, got opcode {opcode}"

    async def close_code(self) -> int:
        """Read until the server's close frame; return its code, then expect EOF."""
        while True:
            opcode, payload = await self.read_frame()
            if opcode == 0x8:
                (code,) = struct.unpack("!H", payload[:2])
                rest = await asyncio.wait_for(self.reader.read(), TIMEOUT)
                assert rest == b"", f"data after the close frame: {rest[:80]!r}"
                return int(code)

    async def aclose(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
