"""tidings benchmark suite: load generator, baselines and the orchestrator of `tidings bench`."""

from __future__ import annotations
