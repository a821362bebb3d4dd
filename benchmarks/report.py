"""Render a bench report: the summary table, the chart, and the figures in docs/benchmarks.md."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from benchmarks.suite import BASELINES, METRICS, ours_and_bases
from benchmarks.targets import ROOT

__all__ = ["markdown", "summary_table", "write_chart", "write_docs"]

DOCS = ROOT / "docs" / "benchmarks.md"
CHART = ROOT / "docs" / "benchmarks-fanout.png"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
TARGETS = ("tidings", *BASELINES)


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _cell(got: dict[str, Any] | None, name: str) -> str:
    if not got:
        return "–"
    return "error" if "error" in got else _fmt(got.get(name))


def _rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per job and metric. A cluster row's tidings cell is the Redis pair; the
    in-process node's figure and the Redis ÷ in-process ratio go in its notes."""
    rows: list[list[str]] = []
    for job in report["results"]:
        metric, _, extra = METRICS[job["scenario"]]
        results: dict[str, dict[str, Any]] = job["results"]
        mine, bases = ours_and_bases(job["scenario"])
        ours = results.get(mine) or {}
        for name in (metric, *extra):
            cells = [job["scenario"], job["label"], name, _cell(results.get(mine), name)]
            notes = _notes(results) if name == metric else ""
            if bases == BASELINES:
                cells += [_cell(results.get(base), name) for base in BASELINES]
                cells += [_ratio(ours, results.get(base) or {}, name) for base in BASELINES]
            else:  # a cluster row: the Redis pair against one in-process node
                cells += ["–"] * (2 * len(BASELINES))
                single = results.get("tidings") or {}
                ratio = _ratio(ours, single, name)
                compared = f"in-process {_cell(single or None, name)}, Redis ÷ in-process {ratio}"
                notes = f"{compared}; {notes}" if notes else compared
            cells.append(notes)
            rows.append(cells)
    return rows


def _ratio(ours: dict[str, Any], theirs: dict[str, Any], name: str) -> str:
    if "error" in ours or "error" in theirs or not ours.get(name) or not theirs.get(name):
        return "–"
    return f"{ours[name] / theirs[name]:.2f}×"


def _notes(results: dict[str, dict[str, Any]]) -> str:
    notes = []
    for target, result in results.items():
        if "error" in result:
            notes.append(f"{target}: {result['error'][:60]}")
            continue
        if result.get("missing"):
            notes.append(f"{target}: {result['missing']} missing")
        if result.get("errors"):
            notes.append(f"{target}: {result['errors']} errors")
        if result.get("generator_bound"):
            notes.append(f"{target}: generator-bound")
        if result.get("capped_by"):
            notes.append(f"{target}: {result['wanted']} wanted, capped: open-file limit")
    return "; ".join(notes)


HEADER = [
    "scenario",
    "case",
    "metric",
    *TARGETS,
    *(f"÷ {base}" for base in BASELINES),
    "notes",
]


def summary_table(report: dict[str, Any]) -> str:
    """A fixed-width table for the terminal."""
    rows = [HEADER, *_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER) - 1)]
    lines = []
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        )
    skipped = report.get("skipped") or {}
    lines += [f"skipped {name}: {why}" for name, why in skipped.items()]
    if report.get("history"):
        lines.append("tidings ran with history on for every channel (--history)")
    return "\n".join(lines)


def markdown(report: dict[str, Any], chart: Path | None) -> str:
    """The measured-figures section of docs/benchmarks.md."""
    machine = report["machine"]
    out = [
        f"Measured by `tidings bench{' --quick' if report['quick'] else ''} --report` at commit "
        f"`{machine['commit']}` on {machine['cpus']} × {machine['cpu_model'] or 'CPU'}, Python "
        f"{machine['python']}, server and generator pinned to separate cores: "
        f"{'yes' if machine['pinned'] else 'no'}.",
        "",
        "Versions: " + ", ".join(f"{k}: {v}" for k, v in report["versions"].items()) + ".",
        "",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    out += ["| " + " | ".join(r) + " |" for r in _rows(report)]
    for name, why in (report.get("skipped") or {}).items():
        out.append(f"\nSkipped {name}: {why}")
    if chart is not None:
        out += ["", f"![fan-out delivered messages/s]({chart.name})"]
    return "\n".join(out)


def write_chart(report: dict[str, Any], path: Path = CHART) -> str | None:
    """Draw delivered msgs/s per fan-out size and target; returns an error text or None."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return (
            "matplotlib is not installed: `make bench-deps` (or pip install '.[bench]' in the "
            "checkout) draws the chart"
        )
    cases = [j for j in report["results"] if j["scenario"] == "fanout"]
    if not cases:
        return "no fan-out results to chart"
    fig, ax = plt.subplots(figsize=(9, 4.5))
    series = [
        ("tidings", "tidings (HTTP)"),
        ("soketi", "Soketi"),
        ("ws", "Node ws"),
        ("nchan", "nginx+nchan"),
    ]
    http_cases = [j for j in cases if j["label"].endswith("http")]
    client_cases = {j["label"].split()[0]: j for j in cases if j["label"].endswith("events")}
    width = 0.16
    for k, (target, name) in enumerate(series):
        values = [j["results"].get(target, {}).get("delivered_per_s", 0) for j in http_cases]
        xs = [i + (k - 2) * width for i in range(len(http_cases))]
        ax.bar(xs, values, width, label=name)
    values = [
        client_cases.get(j["label"].split()[0], {})
        .get("results", {})
        .get("tidings", {})
        .get("delivered_per_s", 0)
        for j in http_cases
    ]
    ax.bar(
        [i + 2 * width for i in range(len(http_cases))],
        values,
        width,
        label="tidings (client events)",
    )
    ax.set_xticks(range(len(http_cases)), [j["label"].split()[0] for j in http_cases])
    ax.set_ylabel("delivered messages/s")
    ax.set_title("Fan-out to N subscribers of one channel (higher is better)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def write_docs(report: dict[str, Any], chart_written: bool, path: Path = DOCS) -> None:
    """Replace the text between the bench markers in docs/benchmarks.md with fresh figures."""
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    section = markdown(report, CHART if chart_written else None)
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    path.write_text(pattern.sub(lambda _: f"{BEGIN}\n{section}\n{END}", text))
