"""``tidings bench``: bad options are one ``error:`` line and exit 2, before anything starts.
(A real run is tests/integration/test_bench_smoke.py.)"""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tidings.cli.main import app


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--sizes", "10,abc"), "error: --sizes takes comma-separated integers, got '10,abc'"),
        (("--sizes", "0"), "error: --sizes must be positive"),
        (("--duration", "0.1"), "error: --duration must be between 0.5 and 600 seconds"),
        (("--duration", "601"), "error: --duration must be between 0.5 and 600 seconds"),
        (("--scenarios", "nope"), "error: unknown scenario(s) ['nope']: use "),
        (("--targets", "tidings,nope"), "error: unknown target(s) ['nope']: use "),
        (("--history", "--report"), "error: --report writes the reference figures"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: tuple[str, ...], message: str) -> None:
    result = CliRunner().invoke(app, ["bench", "--quick", *args])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert result.stdout == ""
