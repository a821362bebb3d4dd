"""Carrying out what a WebSocket session asks, on the node.

The session (sans-I/O, ``tidings.protocol``) turns a client's messages into
commands (``tidings.protocol.commands``); :func:`run_command` carries each one
out on the node and tells the session the outcome, and :func:`report_refusals`
tells the bus what the session refused. The contract on ordering: a command's
frames go out in the order the session queued them, and where a command makes
frames of its own (a history replay, a sign-in's watchlist, last words), the
session's queue is drained first, so nothing overtakes what came before it.
"""

from __future__ import annotations

from tidings.domain import events
from tidings.domain.history import StreamPosition
from tidings.domain.messages import Member, Publication
from tidings.errors import SubscriptionError
from tidings.protocol.commands import (
    ClientEvent,
    Close,
    Command,
    Refusal,
    SignIn,
    Subscribe,
    Unsubscribe,
)
from tidings.typing import ChannelName, UserId
from tidings.web.connection import ClientConnection
from tidings.web.state import ServerState

__all__ = ["report_refusals", "run_command"]


def report_refusals(conn: ClientConnection, state: ServerState, refusals: list[Refusal]) -> None:
    """Tell the bus what the session refused (auth failures, errors): logs and the console."""
    bus = state.node.bus
    app_id, socket_id = conn.app.id, conn.socket_id
    for refusal in refusals:
        if refusal.channel is not None:
            if bus.wants(events.SubscriptionRefused):
                channel = ChannelName(refusal.channel)
                bus.emit(events.SubscriptionRefused(app_id, channel, socket_id, refusal.message))
        elif bus.wants(events.ErrorSent):
            bus.emit(events.ErrorSent(app_id, socket_id, refusal.code, refusal.message))


async def run_command(conn: ClientConnection, command: Command, state: ServerState) -> None:
    """Carry out ``command`` of ``conn``'s session on the node; the session's answer
    (confirmation, refusal, last words) is queued on the session, and written here
    only where the order of frames requires it (see each case)."""
    node = state.node
    session = conn.session
    match command:
        case Subscribe(channel, user_id, user_info, position):
            member = Member(UserId(user_id), user_info) if user_id is not None else None
            asked = StreamPosition(*position) if position is not None else None
            try:
                result = await node.subscribe(conn, ChannelName(channel), member, asked)
            except SubscriptionError as exc:
                session.subscription_refused(channel, exc)
                return
            hold = result.hold
            if hold is None:
                session.subscribed(channel, result.members, result.cached, result.cache_miss)
                return
            # A history channel: replayed events, the confirmation and the frames held
            # meanwhile go out in that order, in this one synchronous step.
            conn.drain_session()

            def confirm(at: tuple[int, str] | None, recovered: bool | None) -> None:
                # A recovery replayed the cache channel's last event already.
                cached = None if recovered else result.cached
                session.subscribed(
                    channel, result.members, cached, result.cache_miss, at, recovered
                )
                conn.drain_session()

            hold.release(confirm)
        case Unsubscribe(channel, user_id):
            await node.unsubscribe(conn, ChannelName(channel), user_id)
        case ClientEvent(channel, event, data, user_id, meta, echo):
            await node.publish_from_client(
                conn.socket_id,
                Publication(
                    conn.app.id,
                    ChannelName(channel),
                    event,
                    data,
                    socket_id=None if echo else conn.socket_id,
                    user_id=UserId(user_id) if user_id is not None else None,
                    meta=meta,
                    from_client=True,
                ),
            )
        case SignIn(user_id, _, watchlist):
            # signin_success goes out first: watchlist events from the core follow it.
            conn.drain_session()
            await node.sign_in(conn, UserId(user_id), [UserId(u) for u in watchlist])
        case Close(code, reason):
            # The session queued its own last words: send them, then only the close frame.
            conn.drain_session()
            conn.close(code, reason, last_words=False)
