"""The orchestrator behind ``tidings bench``: plan, start targets, run the generator, compare.

Each (scenario, target) pair gets a freshly started server pinned to core 0 and a generator
process (``benchmarks/loadgen.py``) pinned to core 1. Results from one run are compared with
each other only: every tidings figure is reported as a ratio to each baseline's.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks.hold import raise_nofile, run_hold
from benchmarks.targets import (
    REGISTRY,
    ROOT,
    Skip,
    cpu_prefix,
    redis_stats,
    start_target,
    stop_target,
)

__all__ = [
    "ALL_SCENARIOS",
    "ALL_TARGETS",
    "BASELINES",
    "EXTRA_SCENARIOS",
    "METRICS",
    "Job",
    "Options",
    "ours_and_bases",
    "plan",
    "run_suite",
]

ALL_SCENARIOS = ("fanout", "latency", "channels", "storm", "idle", "publish", "redis")
# Opt-in scenarios (minutes each), never in the default list.
EXTRA_SCENARIOS = ("hold",)
ALL_TARGETS = ("tidings", "soketi", "ws", "nchan")
# The baselines every tidings figure is divided by, in table order.
BASELINES = ("soketi", "ws", "nchan")
# Targets that speak the Pusher HTTP API, so batch_events too.
PUSHER_TARGETS = ("tidings", "soketi")

# scenario -> (headline metric, True when higher is better, secondary metrics)
METRICS: dict[str, tuple[str, bool, tuple[str, ...]]] = {
    "fanout": ("delivered_per_s", True, ("server_cpu_us_per_msg",)),
    "latency": ("p99_ms", False, ("p50_ms", "p999_ms", "server_cpu_us_per_msg")),
    "channels": ("delivered_per_s", True, ("server_cpu_us_per_msg",)),
    "storm": ("connects_per_s", True, ("server_cpu_us_per_connect",)),
    "idle": ("rss_per_conn_kib", False, ()),
    "publish": ("server_cpu_us_per_publish", False, ("publishes_per_s",)),
    "redis": ("delivered_per_s", True, ("server_cpu_us_per_msg",)),
    "redis-publish": ("server_cpu_us_per_publish", False, ("publishes_per_s",)),
    "redis-shards": (
        "publishes_per_s",
        True,
        ("server_cpu_us_per_publish", "redis_cpu_us_per_publish", "redis_publishes_per_s"),
    ),
    "hold": ("rss_per_conn_kib", False, ("connections", "errors")),
}
LOWER_IS_BETTER = {
    "server_cpu_us_per_msg",
    "server_cpu_us_per_connect",
    "p50_ms",
    "p999_ms",
    "p99_ms",
    "rss_per_conn_kib",
    "server_cpu_us_per_publish",
    "redis_cpu_us_per_publish",
    "errors",
}

SERVER_CPU, GENERATOR_CPU = 0, 1
# Suite scenarios that run one of the generator's scenarios with other targets or sizes.
GENERATOR_SCENARIO = {"redis": "fanout", "redis-publish": "publish", "redis-shards": "publish"}
#: The sharded engine's figures (3 shards) are divided by the same run over 1 shard.
SHARDED, UNSHARDED = "tidings-shards3", "tidings-shards1"


@dataclass
class Options:
    """What ``tidings bench`` was asked to run."""

    quick: bool = False
    scenarios: tuple[str, ...] = ALL_SCENARIOS
    targets: tuple[str, ...] = ALL_TARGETS
    sizes: tuple[int, ...] | None = None  # fan-out subscriber counts
    duration: float | None = None  # measured seconds per run
    history: bool = False  # tidings keeps history of every channel (docs/history.md)


@dataclass
class Job:
    """One generator run: a scenario with its parameters, against each target."""

    scenario: str
    label: str
    spec: dict[str, Any]
    targets: tuple[str, ...]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan(options: Options) -> list[Job]:
    """The generator runs for ``options``, in order. Raises ValueError on unknown names."""
    unknown = set(options.scenarios) - set(ALL_SCENARIOS) - set(EXTRA_SCENARIOS)
    if unknown:
        known = ", ".join(ALL_SCENARIOS + EXTRA_SCENARIOS)
        raise ValueError(f"unknown scenario(s) {sorted(unknown)}: use {known}")
    unknown = set(options.targets) - set(ALL_TARGETS)
    if unknown:
        raise ValueError(f"unknown target(s) {sorted(unknown)}: use {', '.join(ALL_TARGETS)}")
    q = options.quick
    seconds = options.duration or (2.0 if q else 10.0)
    sizes = options.sizes or ((100, 1000) if q else (100, 1000, 5000, 10000))
    big = 1000 if q else 10000
    all_t = options.targets
    jobs: list[Job] = []
    for scenario in options.scenarios:
        if scenario == "fanout":
            for n in sizes:
                jobs.append(Job("fanout", f"N={n} http", {"n": n, "duration": seconds}, all_t))
            if "tidings" in all_t:
                for n in sizes:
                    spec = {"n": n, "duration": seconds, "via": "client"}
                    jobs.append(Job("fanout", f"N={n} client events", spec, ("tidings",)))
        elif scenario == "latency":
            n, rate = (500, 5000) if q else (5000, 25000)
            spec = {"n": n, "rate": rate, "duration": seconds}
            jobs.append(Job("latency", f"N={n} {rate}/s", spec, all_t))
        elif scenario == "channels":
            spec = {"n": big, "duration": seconds}
            jobs.append(Job("channels", f"{big} own + 4 shared", spec, all_t))
        elif scenario == "storm":
            n = 1000 if q else 5000
            jobs.append(Job("storm", f"{n} conns", {"n": n, "concurrency": 200}, all_t))
        elif scenario == "idle":
            spec = {"n": big, "duration": 1.0 if q else 5.0}
            jobs.append(Job("idle", f"{big} conns", spec, all_t))
        elif scenario == "publish":
            spec = {"n": big // 10, "duration": seconds, "publishers": 8}
            jobs.append(Job("publish", f"{big // 10} ch × 1 sub /events", spec, all_t))
            pusher = tuple(t for t in all_t if t in PUSHER_TARGETS)
            if pusher:
                spec = spec | {"batch": 10}
                jobs.append(Job("publish", f"{big // 10} ch × 1 sub batch ×10", spec, pusher))
        elif scenario == "redis" and "tidings" in all_t:
            # The in-process figure for the same N in the same run: the cluster's overhead.
            pair = ("tidings-redis", "tidings")
            n = 200 if q else 1000
            spec = {"n": n, "duration": seconds}
            jobs.append(Job("redis", f"2 nodes N={n}", spec, pair))
            # Every subscriber on the node the publisher does not talk to: each publish
            # crosses Redis.
            spec = {"n": big // 10, "duration": seconds, "publishers": 8, "subscribe_to": 1}
            jobs.append(Job("redis-publish", f"{big // 10} ch × 1 sub, other node", spec, pair))
            # The same over redis-servers of the bench's own: 3 shards, then 1 (same run).
            label = f"{big // 10} ch × 1 sub, other node, per shard"
            jobs.append(Job("redis-shards", label, spec, (SHARDED, UNSHARDED)))
        elif scenario == "hold" and "tidings" in all_t:
            n = (options.sizes or (100_000,))[0]
            spec = {"n": n, "duration": 5.0 if options.duration is None else seconds}
            jobs.append(Job("hold", f"{n} idle conns", spec, ("tidings",)))
    return jobs


def _run_generator(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src")])}
    cmd = [
        *cpu_prefix(GENERATOR_CPU),
        sys.executable,
        "-m",
        "benchmarks.loadgen",
        orjson.dumps(spec).decode(),
    ]
    proc: subprocess.Popen[bytes] = REGISTRY.spawn(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        REGISTRY.stop(proc)
        return {"error": f"generator timed out after {timeout:.0f} s"}
    finally:
        if proc in REGISTRY.procs:
            REGISTRY.procs.remove(proc)
    lines = out.decode(errors="replace").strip().splitlines()
    if proc.returncode != 0 or not lines:
        return {"error": f"generator exited with {proc.returncode} (see its stderr above)"}
    result: dict[str, Any] = orjson.loads(lines[-1])
    return result


def _machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo if "model name" in ln), "")
    except OSError:
        pass
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, check=False
        )
        .stdout.decode()
        .strip()
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit,
        "pinned": bool(cpu_prefix(SERVER_CPU)),
    }


def run_suite(options: Options, say: Callable[[str], None]) -> dict[str, Any]:
    """Run every planned job against every requested target; returns the JSON-able report.

    ``say`` receives progress lines. Processes started here are stopped by PID before this
    returns, also on KeyboardInterrupt.
    """
    jobs = plan(options)
    nofile = raise_nofile()
    run_id = uuid.uuid4().hex[:6]
    skipped: dict[str, str] = {}
    versions: dict[str, str] = {}
    started_at = time.time()
    say(
        f"tidings bench: {len(jobs)} runs, targets {', '.join(options.targets)}, "
        f"open-file limit {nofile}, pinning {'on' if cpu_prefix(SERVER_CPU) else 'off'}, "
        f"tidings history {'on (every channel)' if options.history else 'off'}"
    )
    try:
        for index, job in enumerate(jobs, 1):
            for target in job.targets:
                if target in skipped:
                    continue
                say(f"[{index}/{len(jobs)}] {job.scenario} {job.label}: {target}")
                try:
                    started = start_target(target, SERVER_CPU, history=options.history)
                except Skip as exc:
                    skipped[target] = str(exc)
                    say(f"  skipped {target}: {exc}")
                    continue
                versions[target] = started.version
                spec = job.spec | {
                    "target": target,
                    "ports": started.ports,
                    "server_pids": started.pids,
                    "run_id": f"{run_id}{index}",
                    "scenario": GENERATOR_SCENARIO.get(job.scenario, job.scenario),
                }
                try:
                    before = [redis_stats(port) for port in started.redis_ports]
                    if job.scenario == "hold":
                        result = run_hold(spec, say, GENERATOR_CPU)
                    else:
                        timeout = float(job.spec.get("duration", 5)) + 240
                        result = _run_generator(spec, timeout=timeout)
                    if before and "error" not in result:
                        after = [redis_stats(port) for port in started.redis_ports]
                        result |= _per_shard(before, after, result)
                finally:
                    stop_target(started)
                job.results[target] = result
                say("  " + _brief(job.scenario, result))
    finally:
        REGISTRY.stop_all()
    return {
        "machine": _machine(),
        "quick": options.quick,
        "history": options.history,
        "seconds": round(time.time() - started_at, 1),
        "versions": versions,
        "skipped": skipped,
        "results": [
            {"scenario": j.scenario, "label": j.label, "params": j.spec, "results": j.results}
            for j in jobs
        ],
        "comparisons": compare(jobs),
    }


def _per_shard(
    before: list[tuple[float, int]], after: list[tuple[float, int]], result: dict[str, Any]
) -> dict[str, Any]:
    """Each shard's own figures over a run: Redis CPU per PUBLISH and PUBLISHes per second
    (the busiest shard's, as the headline), and each shard's share of the PUBLISHes."""
    cpu = [a[0] - b[0] for a, b in zip(after, before, strict=True)]
    calls = [a[1] - b[1] for a, b in zip(after, before, strict=True)]
    seconds = float(result.get("seconds") or result.get("duration") or 0) or None
    busiest = max(range(len(calls)), key=calls.__getitem__)
    out: dict[str, Any] = {
        "shards": len(calls),
        "redis_publishes": calls,
        "redis_cpu_s": [round(c, 3) for c in cpu],
        "redis_cpu_us_per_publish": (
            round(cpu[busiest] / calls[busiest] * 1e6, 2) if calls[busiest] else None
        ),
    }
    if seconds:
        out["redis_publishes_per_s"] = round(calls[busiest] / seconds)
    return out


def _brief(scenario: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"error: {result['error']}"
    metric, _, extra = METRICS[scenario]
    parts = [f"{metric}={result.get(metric)}"] + [f"{m}={result.get(m)}" for m in extra]
    if result.get("missing"):
        parts.append(f"MISSING={result['missing']}")
    if result.get("errors"):
        parts.append(f"errors={result['errors']}")
    if result.get("generator_bound"):
        parts.append("(generator-bound)")
    return " ".join(parts)


def ours_and_bases(scenario: str) -> tuple[str, tuple[str, ...]]:
    """The target a scenario's figures belong to and the targets it is divided by.

    The cluster scenarios compare two tidings nodes over Redis with one in-process node.
    """
    if scenario == "redis-shards":
        return SHARDED, (UNSHARDED,)
    if scenario.startswith("redis"):
        return "tidings-redis", ("tidings",)
    return "tidings", BASELINES


def compare(jobs: list[Job]) -> list[dict[str, Any]]:
    """tidings ÷ baseline for each job's metrics (ratio > 1 means tidings' figure is larger).

    For the cluster scenarios the row's ``tidings`` is the Redis pair and the baseline is the
    in-process node (``ratio_tidings``: Redis ÷ in-process).
    """
    rows: list[dict[str, Any]] = []
    for job in jobs:
        mine, bases = ours_and_bases(job.scenario)
        ours = job.results.get(mine)
        if not ours or "error" in ours:
            continue
        metric, higher, extra = METRICS[job.scenario]
        for name in (metric, *extra):
            if name not in ours:
                continue
            row: dict[str, Any] = {
                "scenario": job.scenario,
                "label": job.label,
                "metric": name,
                "better": "lower" if name in LOWER_IS_BETTER else "higher",
                "tidings": ours[name],
            }
            for base in bases:
                theirs = job.results.get(base)
                if theirs and name in theirs and "error" not in theirs:
                    row[base] = theirs[name]
                    row[f"ratio_{base}"] = (
                        round(ours[name] / theirs[name], 2) if theirs[name] else None
                    )
            rows.append(row)
    return rows
