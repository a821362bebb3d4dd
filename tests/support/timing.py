"""Durations and memory bounds: measured in every run, asserted only by ``make reliability``.

``make test`` asserts outcomes (with generous waits), never how fast or how small: a busy
machine must not turn it red. A test that also has a performance bound calls
:func:`bound` with what it measured; the figure is recorded (and printed at the end of the
run by ``tests/conftest.py``), and the bound is asserted when ``TIDINGS_TEST_TIMING=1``
(``make reliability`` sets it and selects these tests by their ``timing`` marker).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["MEASURED", "STRICT", "Measured", "bound"]

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


MEASURED: list[Measured] = []


def bound(what: str, value: float, limit: float, unit: str = "s") -> None:
    """Record ``value`` (a duration in seconds, or ``unit``) against ``limit``; assert
    ``value <= limit`` only under ``make reliability`` (``TIDINGS_TEST_TIMING=1``)."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "?").rsplit(" ", 1)[0]
    MEASURED.append(Measured(test, what, value, limit, unit))
    if STRICT:
        assert value <= limit, f"{what}: {value:.3f} {unit} > {limit} {unit}"
