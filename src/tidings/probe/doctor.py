"""``tidings doctor``: is this server reachable, ready and working, and if not, why?

The checks run in order and each depends on the ones before it: when the server cannot
be reached, nothing after is tried (each later check says so instead of piling up
errors). Every check returns one :class:`~tidings.probe.result.Result`.
"""

from __future__ import annotations

import asyncio
import secrets
import ssl
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tidings.probe.diagnosis import (
    SKEW_LIMIT_S,
    api_fix,
    clock_skew,
    failure_reason,
    refusal_text,
    shards_named,
    tls_fix,
)
from tidings.probe.result import Result, Status
from tidings.probe.wire import HttpReply, Link, PusherSocket, Target

__all__ = ["ROUND_TRIPS", "run_doctor"]

#: Publishes timed by the round-trip check (the median is reported).
ROUND_TRIPS = 5
_EXPIRY_WARN_DAYS = 14
_SKEW_WARN_S = 30

_START = "start it (tidings serve, or make run in the checkout) or pass its URL: tidings doctor URL"


def _ok(name: str, detail: str) -> Result:
    return Result(name, Status.OK, detail)


def _fail(name: str, detail: str, fix: str) -> Result:
    return Result(name, Status.FAIL, detail, fix)


def _skip(name: str, why: str) -> Result:
    return Result(name, Status.SKIP, why)


class _Doctor:
    """One run: the results so far and what later checks need from earlier ones."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.target = link.target
        self.results: list[Result] = []
        self.sock: PusherSocket | None = None
        self.channel = f"doctor-{secrets.token_hex(4)}"

    # -- transport ---------------------------------------------------------------

    async def reachable(self) -> bool:
        host, port = self.target.host_port
        started = time.perf_counter()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port), self.target.timeout
            )
        except (OSError, TimeoutError) as exc:
            reason = failure_reason(exc)
            self.results.append(
                _fail("reachable", f"nothing answers at {host}:{port} ({reason})", _START)
            )
            return False
        writer.close()
        ms = (time.perf_counter() - started) * 1000
        self.results.append(_ok("reachable", f"{host}:{port} accepts TCP ({ms:.1f} ms)"))
        return True

    async def tls(self) -> bool:
        if not self.target.url.startswith("https://"):
            self.results.append(_skip("tls", "plain http://: no certificate to check"))
            return True
        host, port = self.target.host_port
        context = self.target.tls or ssl.create_default_context()
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(host, port, ssl=context, server_hostname=host),
                self.target.timeout,
            )
        except ssl.SSLCertVerificationError as exc:
            self.results.append(
                _fail(
                    "tls",
                    f"certificate not accepted: {exc.verify_message}",
                    tls_fix(exc.verify_message, host),
                )
            )
            return False
        except (OSError, TimeoutError) as exc:
            self.results.append(
                _fail(
                    "tls",
                    f"no TLS handshake with {host}:{port} ({exc})",
                    "is it a TLS listener? try http:// instead of https://",
                )
            )
            return False
        cert: Any = writer.get_extra_info("peercert") or {}
        writer.close()
        not_after = cert.get("notAfter")
        if not not_after:
            self.results.append(_ok("tls", "certificate verified (no expiry date shown)"))
            return True
        days = (ssl.cert_time_to_seconds(not_after) - time.time()) / 86400
        detail = f"certificate verified for {host}, valid until {not_after} ({days:.0f} d left)"
        if days < _EXPIRY_WARN_DAYS:
            self.results.append(
                Result("tls", Status.WARN, detail, "renew the certificate, then restart the server")
            )
        else:
            self.results.append(_ok("tls", detail))
        return True

    # -- HTTP ----------------------------------------------------------------------

    async def _get(self, name: str, path: str) -> HttpReply | None:
        try:
            return await self.link.get(path)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.results.append(
                _fail(
                    name,
                    f"GET {path}: no answer ({exc or 'timed out'})",
                    "check the URL; the server accepts TCP but not HTTP there",
                )
            )
            return None

    async def ready(self) -> bool:
        reply = await self._get("ready", "/ready")
        if reply is None:
            return False
        status = reply.body.get("status") if isinstance(reply.body, dict) else reply.text[:80]
        shards = shards_named(reply.body)
        if reply.status == 200 and status == "degraded":
            self.results.append(
                _fail(
                    "ready",
                    f"/ready: 200 degraded: Redis shard {shards} down",
                    "the channels of that shard fail (503) until it answers again; start it",
                )
            )
        elif reply.status == 200:
            self.results.append(_ok("ready", f"/ready: 200 {status}"))
        elif reply.status == 404:
            self.results.append(_skip("ready", "/ready: 404 (not a tidings server?)"))
        elif status == "broker unreachable":
            self.results.append(
                _fail(
                    "ready",
                    "/ready: 503 broker unreachable" + (f" (shards {shards})" if shards else ""),
                    "the server cannot reach Redis: see the broker line",
                )
            )
        elif status == "draining":
            self.results.append(
                _fail(
                    "ready",
                    "/ready: 503 draining (shutting down)",
                    "wait for the restart, or start the server again",
                )
            )
        else:
            self.results.append(
                _fail("ready", f"/ready: {reply.status} {status}", "read the server's log")
            )
        return True

    async def broker(self) -> None:
        reply = await self._get("broker", "/health")
        if reply is None:
            return
        health = reply.body if isinstance(reply.body, dict) else {}
        if "broker" not in health:
            self.results.append(_skip("broker", "/health does not report a broker"))
            return
        kind = health.get("broker_kind", "?")
        peers = health.get("peers") or []
        shards = shards_named(health)
        if shards:
            self.results.append(
                _fail(
                    "broker",
                    f"Redis shard {shards} down on node {health.get('node_id', '?')}",
                    "start that Redis server or fix its URL in TIDINGS_BROKER_URL; the "
                    "server reconnects by itself (only that shard's channels are affected)",
                )
            )
        elif health["broker"] != "up":
            self.results.append(
                _fail(
                    "broker",
                    f"{kind} broker is down on node {health.get('node_id', '?')}",
                    "start Redis (redis-server, or apt-get install redis-server) or fix "
                    "TIDINGS_BROKER_URL / --broker; the server reconnects by itself",
                )
            )
        elif kind == "memory":
            self.results.append(_ok("broker", "memory (single node)"))
        else:
            self.results.append(
                _ok("broker", f"{kind} up, {len(peers)} node(s): {', '.join(map(str, peers))}")
            )

    # -- WebSocket -----------------------------------------------------------------

    async def websocket(self) -> bool:
        key = self.target.key
        try:
            sock = await self.link.socket()
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.results.append(
                _fail(
                    "websocket",
                    f"no WebSocket at /app/{key} ({exc})",
                    "a proxy in front must pass Upgrade/Connection headers",
                )
            )
            return False
        if not sock.socket_id:
            first = sock.established.get("_first")
            fix = "check --key (the app key)" if first else "read the server's log"
            self.results.append(_fail("websocket", f"no connection_established: {first}", fix))
            return False
        public = await sock.subscribe(self.channel)
        private = await sock.subscribe(
            f"private-{self.channel}", key=key, secret=self.target.secret
        )
        succeeded = "pusher_internal:subscription_succeeded"
        if public is None or public.get("event") != succeeded:
            self.results.append(
                _fail(
                    "websocket",
                    f"subscribe to {self.channel}: {refusal_text(public)}",
                    "read the server's log",
                )
            )
            return False
        if private is None or private.get("event") != succeeded:
            self.results.append(
                _fail(
                    "websocket",
                    f"private channel refused: {refusal_text(private)}",
                    "check --secret: channel auth is signed with the app's secret",
                )
            )
            return False
        self.sock = sock
        self.results.append(
            _ok(
                "websocket",
                f"handshake {sock.handshake_ms:.1f} ms (socket_id {sock.socket_id}); "
                f"subscribed to {self.channel} and private-{self.channel}",
            )
        )
        return True

    # -- signed API ----------------------------------------------------------------

    async def api(self) -> bool:
        path = f"/apps/{self.target.app_id}/channels"
        try:
            reply = await self.link.signed("GET", path)
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.results.append(_fail("api", f"GET {path}: no answer ({exc})", "check the URL"))
            return False
        skew = clock_skew(reply)
        skew_text = (
            "clock skew unknown (no Date header)"
            if skew is None
            else (f"clock skew {skew:+.0f} s (from the Date header, ±1 s)")
        )
        if reply.status != 200:
            error = reply.body if isinstance(reply.body, dict) else {"error": reply.text[:200]}
            self.results.append(
                _fail(
                    "api",
                    f"signed GET {path}: {reply.status} {error.get('error')}; {skew_text}",
                    api_fix(reply.status, error, skew),
                )
            )
            return False
        if skew is not None and abs(skew) > SKEW_LIMIT_S:
            self.results.append(
                _fail(
                    "api",
                    f"signed GET {path}: 200, but {skew_text}",
                    "sync this machine's clock (NTP): timestamps beyond 600 s are refused",
                )
            )
            return False
        detail = f"signed GET {path}: 200 in {reply.elapsed_ms:.1f} ms; {skew_text}"
        if skew is not None and abs(skew) > _SKEW_WARN_S:
            self.results.append(Result("api", Status.WARN, detail, "sync the clocks with NTP"))
        else:
            self.results.append(_ok("api", detail))
        return True

    async def round_trip(self) -> None:
        sock = self.sock
        assert sock is not None
        times: list[float] = []
        for n in range(ROUND_TRIPS):
            started = time.perf_counter()
            body = {"name": "doctor", "channels": [self.channel], "data": str(n)}
            reply = await self.link.signed("POST", f"/apps/{self.target.app_id}/events", body=body)
            if reply.status != 200:
                self.results.append(
                    _fail(
                        "round-trip",
                        f"publish: {reply.status} {reply.text[:200]}",
                        "see the api line",
                    )
                )
                return
            message = await sock.expect("doctor")
            if message is None or message.get("channel") != self.channel:
                self.results.append(
                    _fail(
                        "round-trip",
                        f"published event not received within {self.target.timeout} s",
                        "the server accepted the publish but did not deliver it: read its log "
                        "(in a cluster: do all nodes share one Redis and redis_prefix?)",
                    )
                )
                return
            times.append((time.perf_counter() - started) * 1000)
        self.results.append(
            _ok(
                "round-trip",
                f"publish -> receive {statistics.median(times):.1f} ms "
                f"(median of {ROUND_TRIPS}; min {min(times):.1f}, max {max(times):.1f})",
            )
        )


async def run_doctor(target: Target) -> list[Result]:
    """Run every check against ``target``; one result per check, in order."""
    names = ["reachable", "tls", "ready", "broker", "websocket", "api", "round-trip"]
    async with Link(target) as link:
        doctor = _Doctor(link)
        steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
            ("reachable", doctor.reachable),
            ("tls", doctor.tls),
            ("ready", doctor.ready),
            ("broker", doctor.broker),
            ("websocket", doctor.websocket),
            ("api", doctor.api),
            ("round-trip", doctor.round_trip),
        ]
        blocked = ""
        for name, step in steps:
            if blocked:
                doctor.results.append(_skip(name, f"not tried: {blocked} failed"))
                continue
            if name == "round-trip" and doctor.sock is None:
                doctor.results.append(_skip(name, "not tried: needs the websocket check"))
                continue
            outcome = await step()
            # Without TCP or a trusted TLS handshake nothing else can answer; a failed
            # websocket check only rules out the round trip (handled above).
            if outcome is False and name in ("reachable", "tls"):
                blocked = name
        assert [r.name for r in doctor.results] == names
        return doctor.results
