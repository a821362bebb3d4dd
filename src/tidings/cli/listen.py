"""``tidings listen CHANNEL...``: a live tail of channels, subscribed like a client.

It opens one Pusher protocol connection to the running server, subscribes to
every channel (signing ``private-`` and ``presence-`` ones itself with the app's
secret, as an app's auth endpoint would) and prints each event as it arrives,
with the time it arrived. Ctrl-C (or SIGTERM) closes the connection and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import aiohttp
import orjson
import typer

from tidings.cli.common import ConfigOption, fail
from tidings.cli.probe_options import KeyOption, SecretOption, resolve_target
from tidings.cli.trigger import AppOption, CaCertOption, UrlOption
from tidings.domain.channels import name_problem
from tidings.probe.wire import Link, PusherSocket, Target

__all__ = ["listen", "register"]

_FOREVER = 3600.0  # seconds per wait; the server pings an idle connection long before


class _ListenError(Exception):
    """Why listening stopped (printed as one line, exit 1)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _line(message: dict[str, Any], as_json: bool) -> str:
    channel = message.get("channel")
    event = str(message.get("event", ""))
    data = message.get("data")
    if as_json:
        record = {"time": _now(), "channel": channel, "event": event, "data": data}
        return orjson.dumps(record).decode()
    text = data if isinstance(data, str) else orjson.dumps(data).decode()
    return f"{_now()}  {channel or '-'}  {event}  {text}"


def _channel_data(channel: str, user_id: str) -> str | None:
    if not channel.startswith("presence-"):
        return None
    return orjson.dumps({"user_id": user_id, "user_info": {"name": "tidings listen"}}).decode()


async def _subscribe_all(
    sock: PusherSocket, target: Target, channels: list[str], user_id: str
) -> list[str]:
    """Subscribe to each channel; the confirmations (to print with ``--events``)."""
    confirmations = []
    for channel in channels:
        reply = await sock.subscribe(
            channel,
            key=target.key,
            secret=target.secret,
            channel_data=_channel_data(channel, user_id),
        )
        if reply is None:
            raise _ListenError(f"no answer to the subscription of {channel!r}")
        if reply.get("event") != "pusher_internal:subscription_succeeded":
            data = reply.get("data")
            detail = data.get("error") or data.get("message") if isinstance(data, dict) else data
            raise _ListenError(f"subscription to {channel!r} refused: {detail}")
        confirmations.append(channel)
    return confirmations


async def _tail(
    target: Target,
    channels: list[str],
    *,
    events: bool,
    as_json: bool,
    user_id: str,
    out: Callable[[str], None],
) -> None:
    """Subscribe, then print events until ``stop`` (a signal) or the connection ends."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with Link(target) as link:
            try:
                sock = await link.socket()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _ListenError(f"cannot connect to {target.ws_url}: {exc}") from None
            if not sock.socket_id:
                first = sock.established.get("_first")
                raise _ListenError(f"the server did not accept the connection: {first}")
            for channel in await _subscribe_all(sock, target, channels, user_id):
                if events:
                    confirmed = {"channel": channel, "event": "subscription_succeeded", "data": {}}
                    out(_line(confirmed, as_json))
            if not as_json:
                out(f"# listening on {', '.join(channels)} (Ctrl-C to stop)")
            await _print_until(sock, stop, events=events, as_json=as_json, out=out)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _print_until(
    sock: PusherSocket,
    stop: asyncio.Event,
    *,
    events: bool,
    as_json: bool,
    out: Callable[[str], None],
) -> None:
    stopping = asyncio.ensure_future(stop.wait())
    try:
        while True:
            receiving = asyncio.ensure_future(sock.recv(_FOREVER))
            await asyncio.wait({receiving, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if stopping.done():
                receiving.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await receiving
                return
            message = receiving.result()
            if message is None:
                if sock.ws.closed:
                    reason = f": {sock.server_close_reason}" if sock.server_close_reason else ""
                    raise _ListenError(
                        f"the server closed the connection (code {sock.close_code}{reason})"
                    )
                continue
            event = str(message.get("event", ""))
            internal = event.startswith(("pusher:", "pusher_internal:"))
            if internal and not events:
                continue
            out(_line(message, as_json))
    finally:
        stopping.cancel()


def _print(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()  # a tail is read as it happens, often through a pipe


def listen(
    channels: Annotated[list[str], typer.Argument(help="Channels to subscribe to.")],
    app: AppOption = None,
    events: Annotated[
        bool,
        typer.Option(
            "--events",
            help="Also print protocol events: subscription confirmations, presence "
            "member_added/removed, subscription counts, errors.",
        ),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line: time, channel, event, data.")
    ] = False,
    user_id: Annotated[
        str, typer.Option("--user-id", help="The presence user id to join presence channels as.")
    ] = "tidings-listen",
    url: UrlOption = None,
    key: KeyOption = None,
    secret: SecretOption = None,
    cacert: CaCertOption = None,
    config: ConfigOption = None,
) -> None:
    """Print every event on CHANNEL... as it arrives, with its time (Ctrl-C stops).

    Private and presence channels are signed with the app's secret from the configuration.
    """
    for channel in channels:
        problem = name_problem(channel)
        if problem is not None:
            fail(f"channel {channel!r}: {problem}", code=2)
    target = resolve_target(url, app, key, secret, cacert, config, timeout=10.0)
    try:
        asyncio.run(
            _tail(target, channels, events=events, as_json=as_json, user_id=user_id, out=_print)
        )
    except _ListenError as exc:
        fail(str(exc))
    except KeyboardInterrupt:  # a second Ctrl-C before the first was handled
        pass


def register(app: typer.Typer) -> None:
    """Add ``listen`` to ``app``."""
    app.command()(listen)
