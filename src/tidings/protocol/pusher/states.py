"""Per-channel subscription states of a Pusher session.

Rules:

- A channel the session knows is PENDING or SUBSCRIBED; a channel it does not know has
  no entry (there is no UNSUBSCRIBED state to leak memory on).
- ``pusher:subscribe`` that passes validation and auth: (none | PENDING | SUBSCRIBED)
  -> PENDING, and a ``Subscribe`` command is emitted. A repeat subscribe is answered again.
- ``PusherSession.subscribed()``: PENDING | SUBSCRIBED -> SUBSCRIBED and
  ``subscription_succeeded`` is queued; on an unknown channel (the client unsubscribed
  meanwhile) nothing happens.
- ``PusherSession.subscription_refused()``: known -> none, ``subscription_error`` queued;
  unknown -> nothing.
- ``pusher:unsubscribe``: known -> none, an ``Unsubscribe`` command is emitted; unknown ->
  nothing (Pusher ignores it too).
- Client events are accepted only on SUBSCRIBED channels.
"""

from __future__ import annotations

import enum

__all__ = ["PENDING", "SUBSCRIBED", "ChannelState"]


class ChannelState(enum.IntEnum):
    """Where one channel of one connection stands."""

    PENDING = 1
    SUBSCRIBED = 2


PENDING = ChannelState.PENDING
SUBSCRIBED = ChannelState.SUBSCRIBED
