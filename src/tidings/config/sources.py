"""Where settings come from, besides flags: which TOML file, its values, the environment.

The contract: :func:`config_file` picks the one TOML file a load reads (an
explicit path, else ``TIDINGS_CONFIG``, else ``./tidings.toml`` when it
exists); :class:`TomlSource` hands pydantic-settings that file's values for the
load in progress (:data:`TOML_DATA`, set by the loader around validation);
:func:`unknown_env` names the ``TIDINGS_*`` variables that are no setting,
each with the closest one, leaving alone those that are not meant as settings.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import PydanticBaseSettingsSource

from tidings.config.diagnostics import suggest

__all__ = [
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "TOML_DATA",
    "TomlSource",
    "config_file",
    "unknown_env",
]

ENV_PREFIX = "TIDINGS_"
DEFAULT_CONFIG_FILE = Path("tidings.toml")
# Variables with our prefix that are not settings: test knobs, and the service
# links Kubernetes injects for a Service named "tidings" (TIDINGS_PORT=tcp://...).
_IGNORED_ENV_PREFIXES = ("TIDINGS_TEST_", "TIDINGS_SERVICE_", "TIDINGS_PORT_")
_IGNORED_ENV = frozenset({"TIDINGS_PORT"})

# The TOML values of the load in progress; a context variable keeps concurrent
# loads (tests) apart without a global.
TOML_DATA: ContextVar[Mapping[str, Any] | None] = ContextVar("_TOML_DATA", default=None)


class TomlSource(PydanticBaseSettingsSource):
    """The TOML file's values, already parsed and stripped of unknown keys."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return (TOML_DATA.get() or {}).get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(TOML_DATA.get() or {})


def config_file(explicit: str | Path | None) -> Path | None:
    """The TOML file to read: ``explicit``, else ``TIDINGS_CONFIG``, else
    ``./tidings.toml`` when it exists, else none."""
    explicit = explicit or os.environ.get("TIDINGS_CONFIG")
    path = Path(explicit) if explicit else None
    if path is None and DEFAULT_CONFIG_FILE.is_file():
        path = DEFAULT_CONFIG_FILE
    return path


def unknown_env(keys: list[str]) -> list[str]:
    """A warning per ``TIDINGS_*`` variable that names none of ``keys``, sorted by name."""
    known = [ENV_PREFIX + key.upper() for key in keys]
    found = []
    for name in sorted(os.environ):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper in _IGNORED_ENV:
            continue
        if upper.startswith(_IGNORED_ENV_PREFIXES):
            continue
        found.append(f"unknown setting {name}{suggest(upper, known)}")
    return found
