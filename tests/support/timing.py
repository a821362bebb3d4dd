"""Durations and memory bounds: measured in every run, asserted only by ``make reliability``.

``make test`` asserts outcomes (with generous waits), never how fast or how small: a busy
machine must not turn it red. A test that also has a performance bound calls
:func:`bound` with what it measured; the figure is recorded (and printed at the end of the
run by ``tests/conftest.py``), and the bound is asserted when ``TIDINGS_TEST_TIMING=1``
(``make reliability`` sets it and selects these tests by their ``timing`` marker).

The figures travel in the test reports (``user_properties``), so a run split over
pytest-xdist workers prints them in the controlling process like a run in one process.
"""

from __future__ import annotations

import os
from dataclasses import astuple, dataclass

import pytest

__all__ = ["STRICT", "Measured", "attach_measured", "bound", "measured_in"]

STRICT = os.environ.get("TIDINGS_TEST_TIMING", "") not in ("", "0")


@dataclass(frozen=True)
class Measured:
    test: str
    what: str
    value: float
    limit: float
    unit: str

    @property
    def ok(self) -> bool:
        return self.value <= self.limit


#: Figures measured in this process that no test report carries yet.
_pending: list[Measured] = []
_REPORT_KEY = "tidings-measured"


def bound(what: str, value: float, limit: float, unit: str = "s") -> None:
    """Record ``value`` (a duration in seconds, or ``unit``) against ``limit``; assert
    ``value <= limit`` only under ``make reliability`` (``TIDINGS_TEST_TIMING=1``)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    _pending.append(Measured(test, what, value, limit, unit))
    if STRICT:
        assert value <= limit, f"{what}: {value:.3f} {unit} > {limit} {unit}"


def attach_measured(report: pytest.TestReport) -> None:
    """Move the figures measured since the last report into ``report`` (the phase that
    measured them carries them; the report is what pytest-xdist sends to the controller)."""
    for measured in _pending:
        report.user_properties.append((_REPORT_KEY, astuple(measured)))
    _pending.clear()


def measured_in(report: pytest.TestReport) -> list[Measured]:
    """The figures ``report`` carries (see :func:`attach_measured`)."""
    return [
        Measured(*value)
        for key, value in report.user_properties
        if key == _REPORT_KEY and isinstance(value, tuple)
    ]
