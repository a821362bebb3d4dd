"""Engine test doubles: connections that record frames instead of writing to sockets."""

from __future__ import annotations

from dataclasses import dataclass, field

from tidings.apps.base import App
from tidings.typing import AppId, AppKey, SocketId

APP = App(id=AppId("1"), key=AppKey("k"), secret="s", enable_subscription_count=False)


@dataclass(eq=False)
class FakeConnection:
    """What the core needs of a connection (``core.registry.Connection``), recording frames."""

    socket_id: SocketId
    app: App = APP
    wire: str = "test"
    encoding: str = "test"
    frames: list[bytes] = field(default_factory=list)
    closed: tuple[int, str] | None = None

    def send_frame(self, frame: bytes) -> None:
        self.frames.append(frame)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
