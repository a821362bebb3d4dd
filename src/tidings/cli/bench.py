"""``tidings bench``: measure tidings against Soketi, Node ``ws`` and nginx+nchan on this machine.

The suite lives in the repository's ``benchmarks/`` folder (it starts baselines with Node and
nginx, so it is not part of the installed package); this command finds it next to the source
tree or in the current directory and runs it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tidings.cli.common import echo_json

__all__ = ["register"]


def _find_root() -> Path | None:
    candidates = [Path(__file__).resolve().parents[3], Path.cwd()]
    for root in candidates:
        if (root / "benchmarks" / "loadgen.py").is_file():
            return root
    return None


def _split(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    return tuple(part.strip() for part in value.split(",") if part.strip())


def bench(
    quick: Annotated[bool, typer.Option(help="Small sizes and 2 s runs (about a minute).")] = False,
    json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON on stdout.")
    ] = False,
    report: Annotated[
        bool, typer.Option(help="Write the figures and chart into docs/benchmarks.md.")
    ] = False,
    scenarios: Annotated[
        str | None,
        typer.Option(
            help="Comma list of fanout, latency, channels, storm, idle, publish, redis (default "
            "all), or hold (100 000 idle connections, minutes; --sizes sets the count)."
        ),
    ] = None,
    targets: Annotated[
        str, typer.Option(help="Comma list of tidings, soketi, ws, nchan.")
    ] = "tidings,soketi,ws,nchan",
    sizes: Annotated[
        str | None, typer.Option(help="Fan-out subscriber counts, e.g. 100,1000 (default by mode).")
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="Measured seconds per run (default 10, 2 with --quick).")
    ] = None,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Run tidings with channel history on for every channel the bench uses "
            '(history_channels ["*"], docs/history.md); the baselines run as always. '
            "Compare with the same run without it.",
        ),
    ] = False,
) -> None:
    """Benchmark tidings against Soketi, Node ws and nginx+nchan, started side by side here."""
    root = _find_root()
    if root is None:
        typer.echo(
            "error: the benchmark suite (benchmarks/) was not found; run `tidings bench` from a "
            "clone of the tidings repository",
            err=True,
        )
        raise typer.Exit(2)
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from benchmarks import report as reporting
    from benchmarks.suite import ALL_SCENARIOS, Options, run_suite

    try:
        size_list = tuple(int(s) for s in _split(sizes) or ()) or None
    except ValueError:
        typer.echo(f"error: --sizes takes comma-separated integers, got {sizes!r}", err=True)
        raise typer.Exit(2) from None
    if size_list and min(size_list) < 1:
        typer.echo("error: --sizes must be positive", err=True)
        raise typer.Exit(2)
    if history and report:
        # docs/benchmarks.md holds the reference figures, measured with history off.
        typer.echo(
            "error: --report writes the reference figures (history off); run --history "
            "without --report",
            err=True,
        )
        raise typer.Exit(2)
    if duration is not None and not 0.5 <= duration <= 600:
        typer.echo("error: --duration must be between 0.5 and 600 seconds", err=True)
        raise typer.Exit(2)
    options = Options(
        quick=quick,
        scenarios=_split(scenarios) or ALL_SCENARIOS,
        targets=_split(targets) or ("tidings",),
        sizes=size_list,
        duration=duration,
        history=history,
    )

    def say(line: str) -> None:
        typer.echo(line, err=True)

    try:
        result = run_suite(options, say)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted: every process the bench started has been stopped", err=True)
        raise typer.Exit(130) from None
    if report:
        problem = reporting.write_chart(result)
        if problem:
            say(f"chart not drawn: {problem}")
        reporting.write_docs(result, chart_written=problem is None)
        say(f"wrote {reporting.DOCS}")
    if json:
        echo_json(result)
    else:
        typer.echo(reporting.summary_table(result))


def register(app: typer.Typer) -> None:
    """Add ``bench`` to ``app``."""
    app.command()(bench)
