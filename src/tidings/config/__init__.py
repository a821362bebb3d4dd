"""Settings: one pydantic-settings model, loaded from flags, env, TOML and defaults.

Precedence, highest first: explicit overrides (CLI flags, passed to
:meth:`Settings.load` as keyword arguments) > ``TIDINGS_*`` environment
variables > the TOML file (``--config`` / ``TIDINGS_CONFIG``, else
``./tidings.toml`` when it exists) > defaults. Nothing is read at import time.

Unknown ``TIDINGS_*`` variables and unknown TOML keys do not fail the load: each
becomes an entry of :attr:`Settings.warnings` naming the closest valid key.
Invalid values do fail it, with a one-line :class:`~tidings.errors.ConfigError`
that names the key and where the value came from.

The package's modules, each importable on its own but used through this one:

- :mod:`~tidings.config.settings`: the :class:`Settings` model and its loader;
- :mod:`~tidings.config.app_settings`: the settings derived from the App model
  (``[[apps]]`` tables, inherited limits, the default app's flags);
- :mod:`~tidings.config.diagnostics`: reading the TOML file and turning what is
  wrong in a load into warnings and one-line errors;
- :mod:`~tidings.config.sources`: which TOML file a load reads, its values during
  the load, and the environment's unknown ``TIDINGS_*`` names.
"""

from __future__ import annotations

from tidings.config.app_settings import LIMIT_FIELDS, AppConfig
from tidings.config.settings import (
    DEFAULT_APP_KEY,
    DEFAULT_APP_SECRET,
    DEFAULT_CONFIG_FILE,
    ENV_PREFIX,
    LOG_LEVELS,
    Settings,
)

__all__ = [
    "DEFAULT_APP_KEY",
    "DEFAULT_APP_SECRET",
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "LIMIT_FIELDS",
    "LOG_LEVELS",
    "AppConfig",
    "Settings",
]
