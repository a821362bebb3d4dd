"""The ``tidings`` command line: one module per command group, wired in :mod:`.main`."""

from __future__ import annotations
