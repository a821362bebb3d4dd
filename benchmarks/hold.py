"""``tidings bench --scenarios hold``: many idle subscribed connections on one tidings node.

The orchestrator's side of the hold: it splits N connections over as many generator processes
as their open-file limit needs (``benchmarks/loadgen.py``, scenario ``hold``), gives each
process its own loopback source addresses (one address has about 28 000 ephemeral ports
towards one server port), waits until every share is connected, measures the server's RSS,
holds for ``duration`` seconds and asks each share how many connections are still open.

The server's open-file limit bounds N: when the hard limit cannot be raised (raising it needs
CAP_SYS_RESOURCE, e.g. ``ulimit -Hn 1048576`` as root outside a restricted container), N is
capped to what the server can accept and the result says so (``capped_by``).
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import psutil

from benchmarks.targets import REGISTRY, ROOT, cpu_prefix

__all__ = ["PORTS_PER_SOURCE", "raise_nofile", "run_hold", "shares"]

PORTS_PER_SOURCE = 25_000  # below the default ephemeral range (32768-60999: 28 232 ports)
FD_MARGIN = 300  # descriptors a process needs beside its connections


def raise_nofile() -> int:
    """Raise this process's RLIMIT_NOFILE as far as allowed (hard too, with the capability).

    Returns the soft limit now in force; children inherit it.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        with open("/proc/sys/fs/nr_open") as nr_open:
            ceiling = int(nr_open.read())
    except (OSError, ValueError):
        ceiling = 1 << 20
    if hard != resource.RLIM_INFINITY and hard < ceiling:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, ceiling))
        except (OSError, ValueError):
            pass  # no CAP_SYS_RESOURCE: the hard limit stays
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else ceiling
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def shares(n: int, per_process: int) -> list[tuple[int, list[str]]]:
    """Split ``n`` connections into ``(count, source addresses)`` per generator process.

    Each process opens at most ``per_process`` connections; source addresses 127.0.0.2, .3, …
    are handed out so that no address carries more than :data:`PORTS_PER_SOURCE`.
    """
    processes = max(1, math.ceil(n / max(per_process, 1)))
    out: list[tuple[int, list[str]]] = []
    next_ip = 2
    for k in range(processes):
        count = n // processes + (1 if k < n % processes else 0)
        ips = [f"127.0.0.{next_ip + j}" for j in range(max(1, math.ceil(count / PORTS_PER_SOURCE)))]
        next_ip += len(ips)
        out.append((count, ips))
    return out


def _server_nofile(pid: int) -> int:
    limits = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    return int(limits[0])


def _rss(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def run_hold(spec: dict[str, Any], say: Any, generator_cpu: int | None) -> dict[str, Any]:
    """Hold ``spec["n"]`` idle connections on the server ``spec["server_pids"][0]``.

    ``spec`` is the generator spec the suite built (ports, pids, run id, duration). Every
    generator process is registered with the bench's registry and stopped before returning.
    """
    pid = spec["server_pids"][0]
    wanted = int(spec["n"])
    server_limit = _server_nofile(pid)
    n, capped_by = wanted, None
    if wanted > server_limit - FD_MARGIN:
        n = server_limit - FD_MARGIN
        capped_by = (
            f"the server's open-file limit is {server_limit} and its hard limit could not be "
            "raised (needs CAP_SYS_RESOURCE): run as root with ulimit -Hn 1048576"
        )
        say(f"  hold: {wanted} wanted, {n} possible: {capped_by}")
    per_process = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0] - FD_MARGIN, 60_000)
    per_process = int(spec.get("per_generator") or per_process)  # tests: force several
    plan = shares(n, per_process)
    say(f"  hold: {n} connections from {len(plan)} generator process(es)")
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    before = _rss(pid)
    procs: list[subprocess.Popen[bytes]] = []
    for k, (count, ips) in enumerate(plan):
        share = {k: v for k, v in spec.items() if k != "per_generator"} | {
            "n": count,
            "source_ips": ips,
            "concurrency": 500,
            "connect_timeout": 120.0,
            "extra": {"share": k},
        }
        cmd = [
            *cpu_prefix(generator_cpu),
            sys.executable,
            "-m",
            "benchmarks.loadgen",
            orjson.dumps(share).decode(),
        ]
        procs.append(
            REGISTRY.spawn(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        )
    started = time.monotonic()
    # Not a with-block: a hung share must not keep us waiting for its reader thread; stopping
    # the processes below closes their pipes, which ends the readers.
    pool = ThreadPoolExecutor(2 * len(procs))
    try:
        ready = [f.result(timeout=900) for f in [pool.submit(_line, p) for p in procs]]
        connect_seconds = round(time.monotonic() - started, 1)
        held = sum(int(r.get("ready", 0)) for r in ready)
        connected = _rss(pid)
        time.sleep(float(spec.get("duration", 5.0)))  # the hold itself: stay idle
        after = _rss(pid)
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        results = [f.result(timeout=120) for f in [pool.submit(_line, p) for p in procs]]
    finally:
        for proc in procs:
            REGISTRY.stop(proc)
        pool.shutdown(wait=False)
    alive = sum(int(r.get("alive_after_hold", 0)) for r in results)
    errors = sum(int(r.get("errors", 0)) for r in results) + (n - held)
    out: dict[str, Any] = {
        "wanted": wanted,
        "connections": held,
        "alive_after_hold": alive,
        "errors": errors,
        "generators": len(plan),
        "source_ips": sum(len(ips) for _, ips in plan),
        "connect_seconds": connect_seconds,
        "rss_before_mib": round(before / 2**20, 1),
        "rss_connected_mib": round(connected / 2**20, 1),
        "rss_after_mib": round(after / 2**20, 1),
        "rss_per_conn_kib": round((after - before) / max(held, 1) / 1024, 2),
        "server_nofile": server_limit,
    }
    if capped_by:
        out["capped_by"] = capped_by
    problems = [r["error"] for r in ready + results if r.get("error")]
    if problems:
        out["errors_sample"] = problems[:3]
    return out


def _line(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The next JSON line a generator share prints (``{}`` when it exited without one)."""
    assert proc.stdout is not None
    while True:  # bounded by the process's output: EOF ends it
        line = proc.stdout.readline()
        if not line:
            return {"error": f"generator exited with {proc.poll()}"}
        if line.startswith(b"{"):
            result: dict[str, Any] = orjson.loads(line)
            return result
