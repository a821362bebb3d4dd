"""The bench's plan and report: which runs each scenario makes, and how the table reads them."""

from __future__ import annotations

import _ssl
import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest
from benchmarks import report
from benchmarks.suite import ALL_SCENARIOS, Job, Options, compare, plan

ROOT = Path(__file__).resolve().parents[3]


def _labels(jobs: list[Job]) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(j.scenario, j.label, j.targets) for j in jobs]


def test_soketi_is_a_default_target_of_every_scenario_but_the_cluster_ones() -> None:
    """Soketi runs beside ws and nchan in every single-node scenario, idle included."""
    jobs = plan(Options(quick=True))
    for job in jobs:
        if job.scenario == "redis-shards":
            assert job.targets == ("tidings-shards3", "tidings-shards1")
        elif job.scenario.startswith("redis"):
            assert job.targets == ("tidings-redis", "tidings")
        elif job.label.endswith("client events"):
            assert job.targets == ("tidings",)
        else:
            assert "soketi" in job.targets, job.label
    assert "hold" not in ALL_SCENARIOS
    assert {j.scenario for j in jobs} == set(ALL_SCENARIOS) | {"redis-publish", "redis-shards"}


def test_publish_has_a_one_subscriber_run_for_all_and_a_batch_run_for_pusher_servers() -> None:
    """publish: N channels × 1 subscriber over /events for every target, batch ×10 for two."""
    jobs = plan(Options(scenarios=("publish",), targets=("tidings", "soketi", "ws", "nchan")))
    assert _labels(jobs) == [
        ("publish", "1000 ch × 1 sub /events", ("tidings", "soketi", "ws", "nchan")),
        ("publish", "1000 ch × 1 sub batch ×10", ("tidings", "soketi")),
    ]
    assert jobs[1].spec["batch"] == 10


def test_redis_runs_the_in_process_node_in_the_same_run() -> None:
    """The cluster figures come with the in-process figure for the same N."""
    jobs = plan(Options(scenarios=("redis",), targets=("tidings",)))
    assert [(j.scenario, j.targets) for j in jobs] == [
        ("redis", ("tidings-redis", "tidings")),
        ("redis-publish", ("tidings-redis", "tidings")),
        ("redis-shards", ("tidings-shards3", "tidings-shards1")),
    ]
    assert jobs[0].spec["n"] == 1000
    assert jobs[1].spec["subscribe_to"] == 1  # every publish crosses Redis
    assert jobs[2].spec == jobs[1].spec  # the same load over 3 shards, then 1


def test_hold_is_opt_in_and_takes_its_count_from_sizes() -> None:
    """hold opens 100 000 connections unless --sizes says otherwise."""
    (job,) = plan(Options(scenarios=("hold",), targets=("tidings",)))
    assert job.spec["n"] == 100_000 and job.targets == ("tidings",)
    (job,) = plan(Options(scenarios=("hold",), targets=("tidings",), sizes=(3000,)))
    assert job.spec["n"] == 3000
    with pytest.raises(ValueError, match="unknown scenario"):
        plan(Options(scenarios=("nope",)))


def _report(jobs: list[Job]) -> dict[str, Any]:
    return {
        "machine": {"commit": "abc", "cpus": 2, "cpu_model": "", "python": "3", "pinned": True},
        "quick": True,
        "versions": {},
        "skipped": {},
        "results": [
            {"scenario": j.scenario, "label": j.label, "params": j.spec, "results": j.results}
            for j in jobs
        ],
    }


def test_the_table_divides_by_soketi_and_the_cluster_by_the_in_process_node() -> None:
    """Soketi gets a column and a ratio; a Redis row names the in-process figure and ratio."""
    publish = Job("publish", "1000 ch × 1 sub /events", {}, ("tidings", "soketi"))
    publish.results = {
        "tidings": {"server_cpu_us_per_publish": 50.0, "publishes_per_s": 9000},
        "soketi": {"server_cpu_us_per_publish": 100.0, "publishes_per_s": 6000},
    }
    cluster = Job("redis", "2 nodes N=1000", {}, ("tidings-redis", "tidings"))
    cluster.results = {
        "tidings-redis": {"delivered_per_s": 500_000, "server_cpu_us_per_msg": 2.5},
        "tidings": {"delivered_per_s": 1_000_000, "server_cpu_us_per_msg": 1.0},
    }
    table = report.summary_table(_report([publish, cluster]))
    header, *lines = table.splitlines()
    assert header.split()[3:8] == ["tidings", "soketi", "ws", "nchan", "÷"]
    (per_publish,) = [ln for ln in lines if "server_cpu_us_per_publish" in ln]
    assert "0.50×" in per_publish
    (per_msg,) = [ln for ln in lines if "server_cpu_us_per_msg" in ln]
    assert "in-process 1, Redis ÷ in-process 2.50×" in per_msg
    rows = compare([publish, cluster])
    assert {(r["metric"], r.get("ratio_soketi"), r.get("ratio_tidings")) for r in rows} == {
        ("server_cpu_us_per_publish", 0.5, None),
        ("publishes_per_s", 1.5, None),
        ("delivered_per_s", None, 0.5),
        ("server_cpu_us_per_msg", None, 2.5),
    }
    assert "| soketi |" in report.markdown(_report([publish, cluster]), None)
    assert "history" not in table
    with_history = report.summary_table(_report([publish]) | {"history": True})
    assert with_history.endswith("tidings ran with history on for every channel (--history)")


def test_the_elf_patcher_marks_a_version_need_weak_once(tmp_path: Path) -> None:
    """elf_weak_version.weaken flags a real shared object's requirement, and only once."""
    ext = Path(_ssl.__file__ or "")
    if ext.suffix != ".so" or ext.read_bytes()[:4] != b"\x7fELF":
        pytest.skip("no ELF extension module to patch here")
    copy = tmp_path / "x.so"
    shutil.copy(ext, copy)
    spec = importlib.util.spec_from_file_location(
        "elf_weak_version", ROOT / "benchmarks" / "baselines" / "elf_weak_version.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    before = copy.read_bytes()
    assert module.weaken(copy, "GLIBC_2.2.5") >= 1
    after = copy.read_bytes()
    assert len(after) == len(before) and before != after
    assert module.weaken(copy, "GLIBC_2.2.5") == 0
    assert module.weaken(copy, "NO_SUCH_VERSION") == 0


def test_hold_shares_respect_the_per_process_and_per_address_limits() -> None:
    """100 000 connections: every generator under its open-file limit, every source address
    under its ephemeral ports, no address shared by two generators."""
    from benchmarks.hold import PORTS_PER_SOURCE, shares

    plan_ = shares(100_000, 19_700)
    assert sum(count for count, _ in plan_) == 100_000
    assert len(plan_) == 6 and all(count <= 19_700 for count, _ in plan_)
    addresses = [ip for _, ips in plan_ for ip in ips]
    assert len(addresses) == len(set(addresses)) and "127.0.0.1" not in addresses
    for count, ips in plan_:
        assert count / len(ips) <= PORTS_PER_SOURCE
    assert shares(100_000, 60_000) == [
        (50_000, ["127.0.0.2", "127.0.0.3"]),
        (50_000, ["127.0.0.4", "127.0.0.5"]),
    ]
