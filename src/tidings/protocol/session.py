"""The one shape every wire session has, whatever its protocol (Pusher, PieSocket).

A session is a sans-I/O state machine for one connection. The shell:

1. calls :meth:`WireSession.start` once, right after the handshake;
2. feeds every client message to ``receive_text`` / ``receive_binary``;
3. after each call, drains :meth:`WireSession.commands_received` and carries
   out each command in order (answering every ``Subscribe`` with
   ``subscribed`` or ``subscription_refused``, which may queue more commands:
   drain again until there are none);
4. then writes every text of :meth:`WireSession.data_to_send`.

Client input never raises: rejections become queued replies, plus a ``Close``
command when the connection must end.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tidings.domain.messages import Publication
from tidings.errors import SubscriptionError
from tidings.protocol.commands import Command, Refusal

__all__ = ["WireSession"]


class WireSession(Protocol):
    """One connection's protocol state, fed text and drained of commands and text."""

    @property
    def channels(self) -> Mapping[str, str | None]:
        """Subscribed or pending channel -> presence user id (``None`` elsewhere)."""

    def start(self) -> None:
        """Queue the greeting and the commands the connection starts with."""

    def receive_text(self, text: str) -> None:
        """Handle one client text message. Never raises for client input."""

    def receive_binary(self, data: bytes) -> None:
        """Handle one client binary message. Never raises."""

    def commands_received(self) -> list[Command]:
        """Return and clear the commands emitted since the last call."""

    def data_to_send(self) -> list[str]:
        """Return and clear the text messages queued since the last call."""

    def refusals_sent(self) -> list[Refusal]:
        """Return and clear the refusals the session told the client since the last call."""

    def subscribed(
        self,
        channel: str,
        members: Mapping[str, Any] | None,
        cached: Publication | None = None,
        cache_miss: bool = False,
        position: tuple[int, str] | None = None,
        recovered: bool | None = None,
    ) -> None:
        """The shell joined ``channel``: queue the confirmation (and a cached event).

        ``position`` and ``recovered`` describe a channel that keeps history
        (wires that cannot show them ignore them).
        """

    def subscription_refused(self, channel: str, error: SubscriptionError) -> None:
        """The core refused ``channel``: queue the refusal (or a ``Close``)."""
