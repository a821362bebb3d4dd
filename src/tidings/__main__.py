"""``python -m tidings``: the same as the ``tidings`` command."""

from __future__ import annotations

from tidings.cli.main import main

main()
