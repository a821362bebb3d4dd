"""The garbage-collector policy of a ``tidings serve`` process.

A closed connection is freed by reference counting: the shell keeps its
objects free of reference cycles (``web.front`` and ``web.websocket`` break the
last ones when the connection is lost), so the cyclic collector finds next to nothing
(0 objects over 20 000 churned connections) and what it costs is scanning.
A full collection scans every tracked object, ~70 per open connection, so with
CPython's policy its pause grows with the number of connections open. Here:

- ``gc.freeze()`` once the server has started: the import-time objects are
  never scanned again.
- After every full collection, ``gc.freeze()`` again: the survivors are not
  scanned by the next one, which therefore scans only what reached the oldest
  generation since (the connections opened meanwhile).
- Thresholds ``THRESHOLDS``: a full collection comes after every few
  collections of the middle generation, so each one scans at most about
  ``THRESHOLDS[0] * THRESHOLDS[1] * (THRESHOLDS[2] + 1)`` objects (~35 000), however
  many connections are open, and a connection storm is not slowed by rescans of
  the connections already open.

The trade-off: a cycle among objects that survived a full collection is never
freed. That is why connection objects must stay acyclic;
tests/reliability/test_churn.py checks that RSS stays flat while connections
churn, plain and TLS.
"""

from __future__ import annotations

import gc
from typing import Any, Final

__all__ = ["THRESHOLDS", "apply_policy", "freeze_start_up"]

#: Collector thresholds: generation 0, then 1, then full collections.
THRESHOLDS: Final = (5_000, 2, 2)


def apply_policy() -> None:
    """Set the thresholds and freeze after each full collection (call once per process)."""
    gc.set_threshold(*THRESHOLDS)
    if _freeze_after_full not in gc.callbacks:
        gc.callbacks.append(_freeze_after_full)


def freeze_start_up() -> None:
    """Collect once, then keep every object alive now out of later scans."""
    gc.collect()
    gc.freeze()


def _freeze_after_full(phase: str, info: dict[str, Any]) -> None:
    # A full collection has just merged every generation into the oldest one
    # and left only survivors there: move them out of the next scans.
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()
