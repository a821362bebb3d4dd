"""``tidings conformance``: Pusher protocol v7 and HTTP API checks against any server.

Each check is a small scenario over the public wire with fresh connections and its own
channel names, judged against Pusher's documented behaviour (the protocol and HTTP API
reference pages). Where Pusher documents a code, the check wants that code. A check
that a message is *not* delivered publishes a barrier event afterwards and passes when
the barrier arrives first, so it never waits out a timeout.

:data:`CHECKS` lists them in order: name, what is verified, and the coroutine.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tidings.client._calls import Api
from tidings.probe.result import Result, Status
from tidings.probe.wire import Link, PusherSocket, Target
from tidings.protocol.signing import sign_request

__all__ = ["CHECKS", "Check", "Failed", "run_conformance"]

_SOCKET_ID = re.compile(r"\A\d+\.\d+\Z")
_OK = "pusher_internal:subscription_succeeded"


class Failed(Exception):
    """A check saw something other than the documented behaviour; the message says what."""


def need(condition: bool, message: str) -> None:
    """Fail the running check with ``message`` unless ``condition`` holds."""
    if not condition:
        raise Failed(message)


class Run:
    """What one check gets: the link, a unique name maker and small scenario helpers."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.target = link.target
        self._tag = secrets.token_hex(3)
        self._n = 0

    def name(self, prefix: str = "") -> str:
        """A channel name no other check (or run) uses."""
        self._n += 1
        return f"{prefix}conf-{self._tag}-{self._n}"

    async def socket(self) -> PusherSocket:
        """A connected socket; fails the check when the handshake does not complete."""
        sock = await self.link.socket()
        need(bool(sock.socket_id), f"no connection_established: {sock.established.get('_first')}")
        return sock

    async def joined(self, channel: str, user_id: str | None = None) -> PusherSocket:
        """A socket subscribed to ``channel`` (signed for private/presence ones)."""
        sock = await self.socket()
        data = None if user_id is None else f'{{"user_id":"{user_id}","user_info":{{}}}}'
        reply = await sock.subscribe(
            channel, key=self.target.key, secret=self.target.secret, channel_data=data
        )
        need(reply is not None and reply.get("event") == _OK, f"subscribe {channel}: {reply}")
        return sock

    async def publish(self, channel: str, event: str, data: str, **extra: Any) -> None:
        """Publish through the HTTP API; fails the check unless the server answers 200."""
        body = {"name": event, "channels": [channel], "data": data, **extra}
        reply = await self.link.signed("POST", f"/apps/{self.target.app_id}/events", body=body)
        need(reply.status == 200, f"publish answered {reply.status}: {reply.text[:200]}")

    async def event(self, sock: PusherSocket, event: str, channel: str) -> dict[str, Any]:
        """The next ``event`` on ``channel`` (other messages are skipped); fails on timeout."""
        while True:
            message = await sock.expect(event)
            need(message is not None, f"no {event} on {channel} within {self.target.timeout} s")
            assert message is not None
            if message.get("channel") == channel:
                return message

    async def barrier(self, sock: PusherSocket, channel: str, unwanted: str) -> None:
        """Publish a barrier; fail if ``unwanted`` reaches ``sock`` on ``channel`` before it."""
        await self.publish(channel, "conformance-barrier", "{}")
        while True:
            message = await sock.expect(unwanted, "conformance-barrier")
            need(message is not None, "the barrier event never arrived")
            assert message is not None
            if message.get("channel") != channel:
                continue
            need(message["event"] == "conformance-barrier", f"{unwanted} was delivered: {message}")
            return


# -- the checks ------------------------------------------------------------------------


async def handshake(run: Run) -> str:
    sock = await run.link.socket()
    first = sock.established.get("_first")
    need(sock.socket_id != "", f"first message is not pusher:connection_established: {first}")
    need(bool(_SOCKET_ID.match(sock.socket_id)), f"socket_id {sock.socket_id!r} is not \\d+.\\d+")
    timeout = sock.established.get("activity_timeout")
    need(isinstance(timeout, int), f"activity_timeout {timeout!r} is not an integer")
    need(sock.raw_data_was_string, "data is an object, not a JSON-encoded string")
    return f"socket_id {sock.socket_id}, activity_timeout {timeout}"


async def ping_pong(run: Run) -> str:
    sock = await run.socket()
    await sock.send("pusher:ping", {})
    need(await sock.expect("pusher:pong") is not None, "no pusher:pong")
    return "pusher:ping answered with pusher:pong"


async def _refused_with(run: Run, code: int, *, key: str | None = None, query: str) -> str:
    """The connection's first message is ``pusher:error`` with ``code``."""
    sock = await run.link.socket(key=key, query=query)
    first: Any = sock.established.get("_first") or {}
    data = first.get("data") if isinstance(first.get("data"), dict) else {}
    need(first.get("event") == "pusher:error", f"first message {first or 'none'}")
    need(data.get("code") == code, f"pusher:error code {data.get('code')}, documented {code}")
    return f"pusher:error {code}"


async def unknown_key(run: Run) -> str:
    key = f"no-such-key-{secrets.token_hex(3)}"
    return await _refused_with(run, 4001, key=key, query="protocol=7")


async def missing_protocol(run: Run) -> str:
    return await _refused_with(run, 4008, query="client=conformance")


async def public_subscribe(run: Run) -> str:
    await run.joined(run.name())
    return "subscription_succeeded"


async def private_subscribe(run: Run) -> str:
    await run.joined(run.name("private-"))
    return "subscription_succeeded with key:HMAC(socket_id:channel)"


async def private_bad_auth(run: Run) -> str:
    sock = await run.socket()
    channel = run.name("private-")
    reply = await sock.subscribe(channel, auth=f"{run.target.key}:{'0' * 64}")
    need(reply is not None, "no reply to a forged auth")
    assert reply is not None
    need(reply.get("event") == "pusher:subscription_error", f"got {reply}")
    return "pusher:subscription_error"


async def presence(run: Run) -> str:
    channel = run.name("presence-")
    first = await run.socket()
    data = '{"user_id":"u1","user_info":{"name":"one"}}'
    reply = await first.subscribe(
        channel, key=run.target.key, secret=run.target.secret, channel_data=data
    )
    need(reply is not None and reply.get("event") == _OK, f"subscribe: {reply}")
    assert reply is not None
    payload = reply.get("data")
    members = payload.get("presence", {}) if isinstance(payload, dict) else {}
    need(members.get("count") == 1 and members.get("ids") == ["u1"], f"presence data {members}")
    need(members.get("hash", {}).get("u1") == {"name": "one"}, f"hash {members.get('hash')}")
    second = await run.joined(channel, user_id="u2")
    added = await run.event(first, "pusher_internal:member_added", channel)
    need((added.get("data") or {}).get("user_id") == "u2", f"member_added {added}")
    await run.link.close(second)
    removed = await run.event(first, "pusher_internal:member_removed", channel)
    need((removed.get("data") or {}).get("user_id") == "u2", f"member_removed {removed}")
    return "member list, member_added, member_removed"


async def client_event(run: Run) -> str:
    channel = run.name("private-")
    sender, receiver = await run.joined(channel), await run.joined(channel)
    await sender.send("client-hello", {"n": 1}, channel=channel)
    got = await run.event(receiver, "client-hello", channel)
    need(got.get("data") == {"n": 1}, f"data {got.get('data')}")
    await run.barrier(sender, channel, "client-hello")
    return "delivered to others on a private channel, not echoed to the sender"


async def client_event_public(run: Run) -> str:
    channel = run.name()
    sender, receiver = await run.joined(channel), await run.joined(channel)
    await sender.send("client-hello", {"n": 1}, channel=channel)
    await run.barrier(receiver, channel, "client-hello")
    return "refused on a public channel (not delivered)"


async def api_publish(run: Run) -> str:
    channel = run.name()
    sock = await run.joined(channel)
    await run.publish(channel, "conformance", '{"x":1}')
    got = await run.event(sock, "conformance", channel)
    need(got.get("data") == {"x": 1}, f"data {got.get('data')}")
    return "POST /events delivered"


async def api_exclusion(run: Run) -> str:
    channel = run.name()
    excluded, other = await run.joined(channel), await run.joined(channel)
    await run.publish(channel, "conformance", "{}", socket_id=excluded.socket_id)
    await run.event(other, "conformance", channel)
    await run.barrier(excluded, channel, "conformance")
    return "socket_id excludes that connection only"


async def api_batch(run: Run) -> str:
    one, two = run.name(), run.name()
    sock_one, sock_two = await run.joined(one), await run.joined(two)
    batch = [
        {"channel": one, "name": "b1", "data": "1"},
        {"channel": two, "name": "b2", "data": "2"},
    ]
    reply = await run.link.signed(
        "POST", f"/apps/{run.target.app_id}/batch_events", body={"batch": batch}
    )
    need(reply.status == 200, f"batch_events answered {reply.status}: {reply.text[:200]}")
    await run.event(sock_one, "b1", one)
    await run.event(sock_two, "b2", two)
    return "POST /batch_events delivered both events"


async def api_channels(run: Run) -> str:
    channel = run.name("presence-")
    await run.joined(channel, user_id="u1")
    path = f"/apps/{run.target.app_id}/channels"
    reply = await run.link.signed("GET", path, query={"filter_by_prefix": "presence-conf"})
    need(reply.status == 200, f"GET channels answered {reply.status}: {reply.text[:200]}")
    listed = (reply.body or {}).get("channels", {})
    need(channel in listed, f"{channel} missing from {listed}")
    one = await run.link.signed("GET", f"{path}/{channel}", query={"info": "user_count"})
    need(one.status == 200, f"GET channel answered {one.status}: {one.text[:200]}")
    need((one.body or {}).get("occupied") is True, f"channel info {one.body}")
    need((one.body or {}).get("user_count") == 1, f"user_count in {one.body}")
    users = await run.link.signed("GET", f"{path}/{channel}/users")
    need(users.status == 200, f"GET users answered {users.status}: {users.text[:200]}")
    need((users.body or {}).get("users") == [{"id": "u1"}], f"users {users.body}")
    return "channels (filter_by_prefix), channel (occupied, user_count), users"


async def api_bad_signature(run: Run) -> str:
    forged = Api(run.target.app_id, run.target.key, "not-the-secret", run.target.url)
    reply = await run.link.signed("GET", f"/apps/{run.target.app_id}/channels", api=forged)
    need(reply.status == 401, f"answered {reply.status}, documented 401")
    return "401"


async def api_stale_timestamp(run: Run) -> str:
    path = f"/apps/{run.target.app_id}/channels"
    params = {
        "auth_key": run.target.key,
        "auth_timestamp": str(int(time.time()) - 3600),
        "auth_version": "1.0",
    }
    params["auth_signature"] = sign_request(run.target.secret, "GET", path, params)
    reply = await run.link.http("GET", f"{run.target.url.rstrip('/')}{path}?{urlencode(params)}")
    need(reply.status == 401, f"a timestamp 1 h old answered {reply.status}, documented 401")
    return "401 for a timestamp 1 h old"


async def api_bad_body(run: Run) -> str:
    reply = await run.link.signed(
        "POST", f"/apps/{run.target.app_id}/events", body={"name": "x", "data": "{}"}
    )
    need(reply.status == 400, f"an event without channels answered {reply.status}, want 400")
    return "400 for an event without channels"


@dataclass(frozen=True, slots=True)
class Check:
    """One conformance check: its name, what it verifies, and how."""

    name: str
    verifies: str
    run: Callable[[Run], Awaitable[str]]


CHECKS: tuple[Check, ...] = (
    Check("handshake", "connection_established: socket_id, activity_timeout, JSON-string data",
          handshake),
    Check("ping-pong", "pusher:ping is answered with pusher:pong", ping_pong),
    Check("unknown-key", "an unknown app key gets pusher:error 4001", unknown_key),
    Check("no-protocol", "no ?protocol= gets pusher:error 4008", missing_protocol),
    Check("public", "subscribe to a public channel", public_subscribe),
    Check("private", "subscribe to a private channel with a valid auth", private_subscribe),
    Check("private-forged", "a forged auth gets pusher:subscription_error", private_bad_auth),
    Check("presence", "presence member list, member_added and member_removed", presence),
    Check("client-event", "client-* reaches others on a private channel, not the sender",
          client_event),
    Check("client-public", "client-* on a public channel is not delivered", client_event_public),
    Check("api-publish", "POST /apps/{id}/events reaches subscribers", api_publish),
    Check("api-exclude", "socket_id in a publish excludes that connection", api_exclusion),
    Check("api-batch", "POST /apps/{id}/batch_events reaches both channels", api_batch),
    Check("api-info", "GET channels, channel (user_count) and users", api_channels),
    Check("api-signature", "a wrong signature answers 401", api_bad_signature),
    Check("api-timestamp", "an auth_timestamp 1 h old answers 401", api_stale_timestamp),
    Check("api-bad-body", "an event without channels answers 400", api_bad_body),
)  # fmt: skip


async def run_conformance(target: Target) -> list[Result]:
    """Run every check in :data:`CHECKS` against ``target``; ``ok`` or ``FAIL`` each."""
    results = []
    for check in CHECKS:
        async with Link(target) as link:
            try:
                detail = await check.run(Run(link))
            except Failed as exc:
                results.append(Result(check.name, Status.FAIL, str(exc)))
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                results.append(
                    Result(check.name, Status.FAIL, f"no answer: {exc or type(exc).__name__}")
                )
            else:
                results.append(Result(check.name, Status.OK, detail))
    return results
