"""The installed version of tidings (a module of its own, so any layer may read it)."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("tidings")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0"
