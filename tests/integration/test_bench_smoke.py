"""Smoke run of `tidings bench`: it finishes with a sane table. Speed is never asserted."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from benchmarks.targets import start_target, stop_target

from tests.support.node import kept_events, publish_to

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_quick_fanout_against_tidings_and_ws_accounts_for_every_message() -> None:
    """A tiny `tidings bench --quick --json` fan-out delivers every message to every subscriber."""
    # The ws baseline only when `make bench-deps` installed it: the bench would otherwise
    # run `npm ci` in benchmarks/baselines (network, and writes into the tree) mid-test.
    installed = (ROOT / "benchmarks" / "baselines" / "node_modules" / "ws").is_dir()
    targets = "tidings,ws" if installed and shutil.which("node") else "tidings"
    done = subprocess.run(
        [
            sys.executable, "-c", "from tidings.cli.main import main; main()", "bench",
            "--quick", "--json", "--scenarios", "fanout", "--targets", targets,
            "--sizes", "50", "--duration", "1",
        ],
        cwd=ROOT, capture_output=True, timeout=170, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report: dict[str, Any] = orjson.loads(done.stdout)
    assert report["skipped"] == {}, report["skipped"]
    jobs = report["results"]
    assert {j["label"] for j in jobs} == {"N=50 http", "N=50 client events"}
    seen = set()
    for job in jobs:
        for target, result in job["results"].items():
            seen.add(target)
            assert "error" not in result, result
            assert result["published"] > 0
            assert result["delivered"] == result["expected"] == result["published"] * 50
            assert result["missing"] == 0
            assert result["subscribers_with_wrong_count"] == 0
            assert result["delivered_per_s"] > 0
            assert result["server_cpu_us_per_msg"] > 0
    assert seen == set(targets.split(","))
    ratios = [c for c in report["comparisons"] if c["metric"] == "delivered_per_s"]
    if "ws" in seen:
        assert any(c.get("ratio_ws", 0) > 0 for c in ratios)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("history", [False, True], ids=["history-off", "history-on"])
def test_quick_publish_against_tidings_delivers_every_event_once(history: bool) -> None:
    """`tidings bench --scenarios publish` (and with `--history`): one-subscriber /events and
    batch ×10, nothing lost."""
    done = subprocess.run(
        [
            sys.executable, "-c", "from tidings.cli.main import main; main()", "bench",
            "--quick", "--json", "--scenarios", "publish", "--targets", "tidings",
            "--duration", "1", *(["--history"] if history else []),
        ],
        cwd=ROOT, capture_output=True, timeout=170, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    report: dict[str, Any] = orjson.loads(done.stdout)
    assert report["history"] is history
    jobs = report["results"]
    assert [j["label"] for j in jobs] == ["100 ch × 1 sub /events", "100 ch × 1 sub batch ×10"]
    for job, batch in zip(jobs, (1, 10), strict=True):
        result = job["results"]["tidings"]
        assert "error" not in result, result
        assert result["published"] == result["requests"] * batch > 0
        assert result["delivered"] == result["expected"] == result["published"]
        assert result["missing"] == 0 and result["subscribers_with_wrong_count"] == 0
        assert result["server_cpu_us_per_publish"] > 0
    assert "server_cpu_us_per_publish" in done.stderr.decode()


async def test_history_switch_starts_tidings_keeping_every_channel() -> None:
    """The tidings the bench starts with `--history` keeps every channel's events: the history
    endpoint lists them."""
    started = await asyncio.to_thread(start_target, "tidings", None, True)
    try:
        base = f"http://127.0.0.1:{started.ports[0]}"
        await publish_to(base, ["bench-1"], "bench", "x")
        assert await kept_events(base, "bench-1") == ["bench"]
    finally:
        await asyncio.to_thread(stop_target, started)
