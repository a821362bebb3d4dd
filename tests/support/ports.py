"""A port where nothing listens, for tests of "connection refused"."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["closed_port"]


@contextmanager
def closed_port() -> Iterator[int]:
    """A 127.0.0.1 port that refuses connections for as long as the block runs.

    The port is bound (so no other process can take it and start listening) but never
    listened on: a connection to it is refused by the kernel. A port picked and released
    beforehand could be taken by a server of another test in between.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port
