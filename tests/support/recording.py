"""``RecordingHandler``: a broker handler that records what a broker delivers."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest

from tidings.domain.messages import Control, Message

__all__ = ["RecordingHandler"]


@dataclass(slots=True)
class RecordingHandler:
    """A ``BrokerHandler`` that records messages and controls and lets tests await them."""

    received: list[Any] = field(default_factory=list)
    controls: list[Control] = field(default_factory=list)
    recoveries: int = 0
    recovered: asyncio.Event = field(default_factory=asyncio.Event)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def handle_message(self, message: Message) -> None:
        self.received.append(message)
        self._changed.set()

    def handle_control(self, control: Control) -> None:
        self.controls.append(control)
        self._changed.set()

    async def broker_recovered(self) -> None:
        self.recoveries += 1
        self.recovered.set()

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        """Wait until at least ``count`` messages arrived; return them all."""

        async def reached() -> None:
            while len(self.received) < count:
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            pytest.fail(f"expected {count} publications within {timeout}s, got {self.received}")
        return list(self.received)
