"""``clean_env``: a test that reads settings sees only what it sets itself."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["clean_env"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No ``TIDINGS_*`` from the outside, and a cwd (``tmp_path``) without a tidings.toml.

    Use it with ``pytestmark = pytest.mark.usefixtures("clean_env")``.
    """
    for name in list(os.environ):
        if name.upper().startswith("TIDINGS_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
