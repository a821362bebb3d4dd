"""The load generator: one process, one scenario against one running target.

Usage (the orchestrator in ``benchmarks/suite.py`` builds the spec)::

    python -m benchmarks.loadgen '{"target": "ws", "ports": [8080], "server_pids": [123],
                                   "scenario": "fanout", "n": 1000, "duration": 5}'

Progress goes to stderr; the result is one JSON object on the last line of stdout. Every loop
is bounded in count and time; all traffic goes to 127.0.0.1. Runs on uvloop when installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
import time
from array import array
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import psutil

from benchmarks.adapters import Adapter, make_adapter
from benchmarks.wire import Sink, WsClient, payload

__all__ = ["Spec", "main", "run"]

HOST = "127.0.0.1"


@dataclass
class Spec:
    """What to run. Field names are the JSON keys the orchestrator passes."""

    target: str
    ports: list[int]
    server_pids: list[int]
    scenario: str  # fanout | latency | channels | storm | idle | publish
    n: int = 1000  # subscribers / connections
    duration: float = 5.0  # measured seconds (storm/idle: hold time)
    via: str = "http"  # fanout publisher: http | client
    batch: int = 1  # publish: events per request (1: /events, more: /batch_events)
    subscribe_to: int | None = None  # index into ports for every subscriber (None: round robin)
    source_ips: list[str] = field(default_factory=list)  # bind clients round-robin to these
    size: int = 64  # payload bytes
    rate: int = 25_000  # latency: deliveries per second
    window: int = 16  # fan-out flow control: messages in flight per subscriber
    publishers: int = 4  # concurrent HTTP publishers
    concurrency: int = 200  # connections being opened at once
    shared: int = 4  # channels scenario: shared channels
    run_id: str = "b"
    connect_timeout: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)


class Server:
    """CPU time and RSS of the server processes (and their children, e.g. nginx workers)."""

    def __init__(self, pids: list[int]) -> None:
        self.roots = [psutil.Process(pid) for pid in pids]

    def _procs(self) -> list[psutil.Process]:
        procs: list[psutil.Process] = []
        for root in self.roots:
            procs.append(root)
            with contextlib.suppress(psutil.Error):
                procs.extend(root.children(recursive=True))
        return procs

    def cpu(self) -> float:
        total = 0.0
        for proc in self._procs():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss(self) -> int:
        total = 0
        for proc in self._procs():
            with contextlib.suppress(psutil.Error):
                total += proc.memory_info().rss
        return total


def progress(text: str) -> None:
    """One progress line on stderr (the orchestrator relays it)."""
    print(f"    {text}", file=sys.stderr, flush=True)


async def wait_progress(sink: Sink, timeout: float) -> None:
    """Wait until any client reports new messages, or ``timeout`` seconds."""
    sink.progress.clear()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sink.progress.wait(), max(timeout, 0.001))


async def connect_all(
    spec: Spec, adapter: Adapter, sink: Sink, channel_lists: list[list[str]]
) -> tuple[list[WsClient], float]:
    """Open one subscribed connection per channel list; returns clients and elapsed seconds.

    Each connection counts as done when the target confirmed every subscription, so the
    elapsed time measures handshake + subscribe. Raises if any connection fails.
    """
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(spec.concurrency)
    clients: list[WsClient] = []
    done = 0
    step = max(1, len(channel_lists) // 5)

    async def one(index: int, channels: list[str]) -> None:
        nonlocal done
        if spec.subscribe_to is None:
            port = spec.ports[index % len(spec.ports)]
        else:
            port = spec.ports[min(spec.subscribe_to, len(spec.ports) - 1)]
        client = WsClient(
            sink, f"{HOST}:{port}", adapter.ws_path(channels), adapter.on_text, adapter.on_open
        )
        client.channels = channels
        clients.append(client)
        # ~28 000 ephemeral ports per source address: more connections need more addresses.
        local = (spec.source_ips[index % len(spec.source_ips)], 0) if spec.source_ips else None
        async with gate:
            await loop.create_connection(lambda: client, HOST, port, local_addr=local)
            await asyncio.wait_for(client.subscribed, spec.connect_timeout)
        done += 1
        if done % step == 0:
            progress(f"{done}/{len(channel_lists)} connected and subscribed")

    start = time.perf_counter()
    results = await asyncio.gather(
        *(one(i, chans) for i, chans in enumerate(channel_lists)), return_exceptions=True
    )
    elapsed = time.perf_counter() - start
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        for client in clients:
            client.close()
        raise RuntimeError(
            f"{len(failures)}/{len(channel_lists)} connections failed; first: {failures[0]!r}; "
            f"errors: {sink.errors[:3]}"
        )
    for client in clients:
        client.verbose = False
    return clients, elapsed


async def warm_up(
    spec: Spec,
    adapter: Adapter,
    sink: Sink,
    http: aiohttp.ClientSession,
    channels: list[str],
    expected: int,
) -> None:
    """Publish warm-up messages until every subscriber got one (up to 5 rounds of 5 s)."""
    loop = asyncio.get_running_loop()
    base = f"http://{HOST}:{spec.ports[0]}"
    for _ in range(5):
        for channel in channels:
            await adapter.publish(http, base, channel, payload(0, spec.size, warm=True))
        deadline = loop.time() + 5.0
        while sink.warmed < expected and loop.time() < deadline:
            await wait_progress(sink, deadline - loop.time())
        if sink.warmed >= expected:
            return
    raise RuntimeError(f"warm-up: only {sink.warmed}/{expected} subscribers received a message")


async def drain(sink: Sink, expected: int, quiet: float = 3.0) -> None:
    """Wait until ``expected`` messages arrived or nothing arrived for ``quiet`` seconds."""
    loop = asyncio.get_running_loop()
    while sink.total < expected:
        before = sink.total
        await wait_progress(sink, quiet)
        if sink.total == before and sink.total < expected:
            deadline = loop.time() + quiet
            while sink.total == before and loop.time() < deadline:
                await wait_progress(sink, deadline - loop.time())
            if sink.total == before:
                return


def percentile(sorted_values: list[int], q: float) -> float:
    """The ``q``-quantile (0..1) of pre-sorted values, in milliseconds."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[index] / 1e6


class Meter:
    """Wall time, generator CPU and server CPU between :meth:`start` and :meth:`stop`."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.wall = self.gen_cpu = self.server_cpu = 0.0

    def start(self) -> None:
        self._t, self._g, self._s = time.perf_counter(), time.process_time(), self.server.cpu()

    def stop(self, end: float | None = None) -> dict[str, Any]:
        self.server_cpu = self.server.cpu() - self._s
        self.gen_cpu = time.process_time() - self._g
        self.wall = (end or time.perf_counter()) - self._t
        gen_pct = 100.0 * self.gen_cpu / max(time.perf_counter() - self._t, 1e-9)
        return {
            "seconds": round(self.wall, 3),
            "server_cpu_s": round(self.server_cpu, 3),
            "generator_cpu_pct": round(gen_pct, 1),
            "generator_bound": gen_pct >= 95.0,
        }


async def publish_loop(
    spec: Spec,
    adapter: Adapter,
    sink: Sink,
    http: aiohttp.ClientSession,
    next_channel: Callable[[], tuple[str, int]],
    window: int,
    end: float,
    publisher: WsClient | None = None,
) -> int:
    """Publish until ``end``, keeping at most ``window`` deliveries in flight; returns the count.

    ``next_channel`` returns the channel for the next message and how many deliveries it
    should cause. With ``publisher`` set, messages go out as client events over that socket.
    """
    loop = asyncio.get_running_loop()
    base = f"http://{HOST}:{spec.ports[0]}"
    state = {"published": 0, "expected": 0}

    async def worker() -> None:
        while loop.time() < end:
            if state["expected"] - sink.total >= window:
                await wait_progress(sink, min(1.0, end - loop.time()))
                continue
            channel, fanout = next_channel()
            state["published"] += 1
            state["expected"] += fanout
            body = payload(state["published"], spec.size)
            if publisher is not None:
                adapter.client_event(publisher, channel, body)
                if state["published"] % 32 == 0:
                    await asyncio.sleep(0)  # let the receive side run between bursts
            else:
                await adapter.publish(http, base, channel, body)

    workers = 1 if publisher is not None else spec.publishers
    await asyncio.gather(*(worker() for _ in range(workers)))
    return state["expected"]


async def scenario_fanout(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """N subscribers on one channel; publish at saturation; every delivery counted."""
    client_mode = spec.via == "client"
    channel = f"{'private-' if client_mode else ''}{spec.run_id}-fan"
    clients, _ = await connect_all(spec, adapter, sink, [[channel]] * spec.n)
    publisher = None
    if client_mode:
        (publisher,), _ = await connect_all(spec, adapter, sink, [[channel]])
    await warm_up(spec, adapter, sink, http, [channel], len(clients) + (publisher is not None))
    progress(f"publishing for {spec.duration:.0f} s via {spec.via}")
    meter = Meter(server)
    meter.start()
    loop = asyncio.get_running_loop()
    expected = await publish_loop(
        spec,
        adapter,
        sink,
        http,
        lambda: (channel, spec.n),
        spec.window * spec.n,
        loop.time() + spec.duration,
        publisher,
    )
    await drain(sink, expected)
    out = meter.stop(sink.last)
    published = expected // spec.n
    bad = sum(1 for c in clients if c.count != published)
    return out | {
        "published": published,
        "expected": expected,
        "delivered": sink.total,
        "missing": expected - sink.total,
        "subscribers_with_wrong_count": bad,
        "delivered_per_s": round(sink.total / max(meter.wall, 1e-9)),
        "server_cpu_us_per_msg": round(1e6 * meter.server_cpu / max(sink.total, 1), 4),
    }


async def scenario_latency(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """N subscribers; publishes paced to ``rate`` deliveries/s; publish→receive percentiles."""
    channel = f"{spec.run_id}-lat"
    clients, _ = await connect_all(spec, adapter, sink, [[channel]] * spec.n)
    await warm_up(spec, adapter, sink, http, [channel], len(clients))
    interval = spec.n / spec.rate
    count = max(1, int(spec.duration / interval))
    progress(f"{count} publishes paced every {interval * 1000:.1f} ms")
    sink.latencies = array("q")
    loop = asyncio.get_running_loop()
    base = f"http://{HOST}:{spec.ports[0]}"
    meter = Meter(server)
    meter.start()
    start = loop.time()
    tasks: set[asyncio.Task[None]] = set()
    for k in range(count):
        delay = start + k * interval - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) < 64:  # bounded: a stalled target cannot pile up requests
            task = asyncio.create_task(
                adapter.publish(http, base, channel, payload(k + 1, spec.size))
            )
            tasks.add(task)
            task.add_done_callback(tasks.discard)
    await asyncio.gather(*tasks)
    await drain(sink, count * spec.n)
    out = meter.stop(sink.last)
    samples = sorted(sink.latencies)
    return out | {
        "published": count,
        "expected": count * spec.n,
        "delivered": sink.total,
        "missing": count * spec.n - sink.total,
        "subscribers_with_wrong_count": sum(1 for c in clients if c.count != count),
        "delivered_per_s": round(sink.total / max(meter.wall, 1e-9)),
        "server_cpu_us_per_msg": round(1e6 * meter.server_cpu / max(sink.total, 1), 4),
        "p50_ms": round(percentile(samples, 0.5), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
        "p999_ms": round(percentile(samples, 0.999), 3),
    }


async def scenario_channels(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """N connections, each on its own channel plus one of ``shared`` shared channels."""
    own = [f"{spec.run_id}-c{i}" for i in range(spec.n)]
    shared = [f"{spec.run_id}-s{j}" for j in range(spec.shared)]
    lists = [[own[i], shared[i % spec.shared]] for i in range(spec.n)]
    clients, _ = await connect_all(spec, adapter, sink, lists)
    await warm_up(spec, adapter, sink, http, shared, len(clients))
    own_counts = [0] * spec.n
    shared_counts = [0] * spec.shared
    members = [len(range(j, spec.n, spec.shared)) for j in range(spec.shared)]
    cursor = {"k": 0}

    def next_channel() -> tuple[str, int]:
        k = cursor["k"]
        cursor["k"] = k + 1
        if k % 100 == 99:  # one publish in 100 goes to a shared channel
            j = (k // 100) % spec.shared
            shared_counts[j] += 1
            return shared[j], members[j]
        i = k % spec.n
        own_counts[i] += 1
        return own[i], 1

    meter = Meter(server)
    meter.start()
    loop = asyncio.get_running_loop()
    expected = await publish_loop(
        spec, adapter, sink, http, next_channel, 4 * spec.n, loop.time() + spec.duration
    )
    await drain(sink, expected)
    out = meter.stop(sink.last)
    bad = sum(
        1
        for i, c in enumerate(clients)
        if c.count != own_counts[i] + shared_counts[i % spec.shared]
    )
    return out | {
        "published": cursor["k"],
        "expected": expected,
        "delivered": sink.total,
        "missing": expected - sink.total,
        "subscribers_with_wrong_count": bad,
        "delivered_per_s": round(sink.total / max(meter.wall, 1e-9)),
        "publishes_per_s": round(cursor["k"] / max(meter.wall, 1e-9)),
        "server_cpu_us_per_msg": round(1e6 * meter.server_cpu / max(sink.total, 1), 4),
    }


async def scenario_storm(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """Open N connections (``concurrency`` at a time), each handshake + subscribe."""
    meter = Meter(server)
    meter.start()
    clients, elapsed = await connect_all(
        spec, adapter, sink, [[f"{spec.run_id}-st{i}"] for i in range(spec.n)]
    )
    out = meter.stop()
    for client in clients:
        client.close()
    return out | {
        "connections": len(clients),
        "errors": len(sink.errors),
        "connects_per_s": round(len(clients) / max(elapsed, 1e-9)),
        "server_cpu_us_per_connect": round(1e6 * meter.server_cpu / max(len(clients), 1), 2),
    }


async def scenario_idle(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """Hold N idle subscribed connections for ``duration`` s; RSS growth per connection."""
    before = server.rss()
    clients, _ = await connect_all(
        spec, adapter, sink, [[f"{spec.run_id}-i{i}"] for i in range(spec.n)]
    )
    progress(f"holding {len(clients)} idle connections for {spec.duration:.0f} s")
    await asyncio.sleep(spec.duration)  # a fixed hold, by design: the point is to stay idle
    after = server.rss()
    alive = sum(1 for c in clients if c.transport is not None)
    return {
        "connections": len(clients),
        "alive_after_hold": alive,
        "errors": len(sink.errors) + (len(clients) - alive),
        "rss_before_mib": round(before / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "rss_per_conn_kib": round((after - before) / max(len(clients), 1) / 1024, 2),
    }


async def scenario_publish(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """N channels with one subscriber each; signed HTTP publishes round-robin over them.

    ``publishers`` requests in flight over keep-alive connections (as a server SDK sends
    them); with ``batch`` > 1 each request is one ``batch_events`` call carrying that many
    events to consecutive channels. Every delivery is counted; the headline is server CPU per
    published event.
    """
    channels = [f"{spec.run_id}-p{i}" for i in range(spec.n)]
    clients, _ = await connect_all(spec, adapter, sink, [[c] for c in channels])
    await warm_up(spec, adapter, sink, http, channels, len(clients))
    if spec.batch > 1 and not hasattr(adapter, "publish_batch"):
        raise RuntimeError(f"{adapter.name} has no batch publish")
    loop = asyncio.get_running_loop()
    base = f"http://{HOST}:{spec.ports[0]}"
    state = {"events": 0, "requests": 0}
    counts = [0] * spec.n
    end = loop.time() + spec.duration

    async def worker() -> None:
        while loop.time() < end:
            if state["events"] - sink.total >= 4 * spec.n:  # bounded backlog of deliveries
                await wait_progress(sink, min(1.0, end - loop.time()))
                continue
            items = []
            for _ in range(spec.batch):
                k = state["events"]
                state["events"] = k + 1
                counts[k % spec.n] += 1
                items.append((channels[k % spec.n], payload(k + 1, spec.size)))
            state["requests"] += 1
            if spec.batch > 1:
                await adapter.publish_batch(http, base, items)  # type: ignore[attr-defined]
            else:
                await adapter.publish(http, base, *items[0])

    progress(f"publishing for {spec.duration:.0f} s to {spec.n} channels, batch {spec.batch}")
    meter = Meter(server)
    meter.start()
    await asyncio.gather(*(worker() for _ in range(spec.publishers)))
    await drain(sink, state["events"])
    out = meter.stop(sink.last)
    events = state["events"]
    return out | {
        "published": events,
        "requests": state["requests"],
        "expected": events,
        "delivered": sink.total,
        "missing": events - sink.total,
        "subscribers_with_wrong_count": sum(
            1 for i, c in enumerate(clients) if c.count != counts[i]
        ),
        "publishes_per_s": round(events / max(meter.wall, 1e-9)),
        "server_cpu_us_per_publish": round(1e6 * meter.server_cpu / max(events, 1), 2),
        "server_cpu_us_per_request": round(1e6 * meter.server_cpu / max(state["requests"], 1), 2),
    }


async def scenario_hold(
    spec: Spec, adapter: Adapter, sink: Sink, server: Server, http: aiohttp.ClientSession
) -> dict[str, Any]:
    """One share of ``tidings bench --scenarios hold`` (benchmarks/hold.py runs several).

    Opens N idle subscribed connections, prints ``{"ready": N}`` on stdout, holds them until
    a line arrives on stdin (the orchestrator measured the server meanwhile), then reports
    how many are still open.
    """
    lists = [[f"{spec.run_id}-h{spec.extra.get('share', 0)}-{i}"] for i in range(spec.n)]
    try:
        clients, elapsed = await connect_all(spec, adapter, sink, lists)
    except RuntimeError as exc:
        sys.stdout.write(orjson.dumps({"ready": 0, "error": str(exc)[:300]}).decode() + "\n")
        sys.stdout.flush()
        return {"connections": 0, "errors": spec.n, "error": str(exc)[:300]}
    sys.stdout.write(orjson.dumps({"ready": len(clients)}).decode() + "\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    alive = sum(1 for c in clients if c.transport is not None)
    for client in clients:
        client.close()
    return {
        "connections": len(clients),
        "alive_after_hold": alive,
        "errors": len(sink.errors) + len(clients) - alive,
        "connect_seconds": round(elapsed, 2),
    }


SCENARIOS: dict[str, Callable[..., Coroutine[Any, Any, dict[str, Any]]]] = {
    "fanout": scenario_fanout,
    "latency": scenario_latency,
    "channels": scenario_channels,
    "storm": scenario_storm,
    "idle": scenario_idle,
    "publish": scenario_publish,
    "hold": scenario_hold,
}


async def run(spec: Spec) -> dict[str, Any]:
    """Run one scenario; returns its figures (plus ``errors_sample`` when anything went wrong)."""
    if spec.scenario not in SCENARIOS:
        raise ValueError(f"unknown scenario {spec.scenario!r}: use one of {sorted(SCENARIOS)}")
    sink = Sink()
    adapter = make_adapter(spec.target, sink)
    server = Server(spec.server_pids)
    connector = aiohttp.TCPConnector(limit=max(spec.publishers, 64), force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        result = await SCENARIOS[spec.scenario](spec, adapter, sink, server, http)
    if sink.errors:
        result["errors_sample"] = sink.errors[:5]
    return result


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def main(argv: list[str]) -> int:
    """Entry point: ``argv[0]`` is the JSON spec; prints the JSON result on stdout."""
    if len(argv) != 1:
        print("usage: python -m benchmarks.loadgen SPEC_JSON", file=sys.stderr)
        return 2
    spec = Spec(**orjson.loads(argv[0]))
    _raise_nofile()
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(run(spec))
        loop_name = "asyncio"
    else:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            result = runner.run(run(spec))
        loop_name = "uvloop"
    result["generator_loop"] = loop_name
    sys.stdout.write(orjson.dumps(result).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
