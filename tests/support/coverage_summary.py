"""Print the coverage of ``make test`` per package, the total, and the modules under 70 %.

Usage: ``python -m tests.support.coverage_summary build/coverage.json`` (the JSON report
pytest-cov writes with ``--cov-report=json:build/coverage.json``). Percentages count lines
and branches together, as coverage.py's own total does. Code run only inside ``tidings
serve`` child processes is not measured (coverage follows the pytest process).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

__all__ = ["LOW", "main"]

LOW = 70.0  # modules below this are listed (each needs tests, or a reason it has none)


def _percent(covered: int, total: int) -> float:
    return 100.0 * covered / total if total else 100.0


def _package(path: str) -> str:
    """``src/tidings/web/front.py`` -> ``tidings.web``; top-level modules -> ``tidings``."""
    parts = Path(path).with_suffix("").parts
    start = parts.index("tidings")
    return ".".join(parts[start:-1]) or "tidings"


def main(argv: list[str]) -> int:
    report = json.loads(Path(argv[1]).read_text(encoding="utf-8"))
    packages: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    low: list[tuple[float, str, int]] = []
    for path, data in report["files"].items():
        summary = data["summary"]
        covered = summary["covered_lines"] + summary.get("covered_branches", 0)
        total = summary["num_statements"] + summary.get("num_branches", 0)
        package = packages[_package(path)]
        package[0] += covered
        package[1] += total
        percent = _percent(covered, total)
        if percent < LOW:
            low.append((percent, path, summary["num_statements"]))
    print("\ncoverage (lines + branches) per package")
    print(f"  {'package':<28} {'covered':>8} {'of':>7} {'%':>6}")
    for name in sorted(packages):
        covered, total = packages[name]
        print(f"  {name:<28} {covered:>8} {total:>7} {_percent(covered, total):>6.1f}")
    totals = report["totals"]
    covered = totals["covered_lines"] + totals.get("covered_branches", 0)
    total = totals["num_statements"] + totals.get("num_branches", 0)
    print(f"  {'TOTAL':<28} {covered:>8} {total:>7} {_percent(covered, total):>6.1f}")
    if low:
        print(f"\nmodules under {LOW:g} %:")
        for percent, path, statements in sorted(low):
            print(f"  {percent:5.1f} %  {path} ({statements} statements)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
