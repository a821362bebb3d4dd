"""What goes wrong in a settings load, in words a user can act on.

Pure helpers of :meth:`tidings.config.Settings.load`: read the TOML file (a
missing, unreadable or malformed file is a :class:`~tidings.errors.ConfigError`),
drop its unknown keys with a "did you mean" warning each, and turn the first
pydantic validation error into one line that names the key, where its value came
from (flag, environment variable, TOML file) and why it is wrong, without ever
repeating a secret.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic.fields import FieldInfo

from tidings.errors import ConfigError

__all__ = ["describe", "read_toml", "strip_unknown", "suggest"]

_SEE_LIST = " (ignored; `tidings config env` lists the valid settings)"


def suggest(name: str, valid: list[str], fallback: str = _SEE_LIST) -> str:
    """``"; did you mean X?"`` for the closest valid key, else ``fallback``."""
    match = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"; did you mean {match[0]}?" if match else fallback


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file's values.

    Raises:
        ConfigError: the file is missing, unreadable or not valid TOML.
    """
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(
            f"config file {str(path)!r} not found", hint="create one with `tidings init`"
        ) from None
    except OSError as exc:
        raise ConfigError(f"cannot read config file {str(path)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def strip_unknown(
    data: dict[str, Any],
    valid: list[str],
    app_keys: list[str],
    where: str,
    dropped: dict[int, list[str]],
) -> list[str]:
    """Drop unknown keys (top level and inside ``[[apps]]``); return a warning for each.

    The keys dropped from the ``[[apps]]`` table at index ``i`` are added to
    ``dropped[i]``, so that a missing required key can be traced to its typo.
    """
    warnings = []
    for key in [k for k in data if k not in valid]:
        warnings.append(f"unknown setting {key!r} in {where}{suggest(key, valid)}")
        del data[key]
    apps = data.get("apps")
    if isinstance(apps, list):
        for index, table in enumerate(apps):
            if not isinstance(table, dict):
                continue
            for key in [k for k in table if k not in app_keys]:
                suggestion = suggest(key, app_keys, " (ignored)")
                warnings.append(
                    f"unknown key {key!r} in [[apps]] #{index + 1} of {where}{suggestion}"
                )
                dropped.setdefault(index, []).append(key)
                del table[key]
    return warnings


def _apps_problem(
    error: Any, toml: Mapping[str, Any], dropped: Mapping[int, list[str]]
) -> tuple[str, str] | None:
    """``(where, message)`` for an error inside ``apps``, in TOML's words, else ``None``.

    Apps are numbered from 1 as ``[[apps]] #N`` (as the warnings number them), a
    missing required key names the unknown key that is probably its typo, and a
    single ``[apps]`` table gets the double brackets it needs.
    """
    loc = error["loc"]
    if not loc or loc[0] != "apps":
        return None
    if len(loc) == 1 and error["type"] == "list_type" and isinstance(toml.get("apps"), dict):
        return "apps", "[apps] is one table; write [[apps]] (double brackets) above each app"
    if len(loc) < 2 or not isinstance(loc[1], int):
        return None
    index = loc[1]
    where = f"[[apps]] #{index + 1}" + (f" key {loc[2]!r}" if len(loc) > 2 else "")
    if error["type"] != "missing" or len(loc) < 3:
        return where, str(error["msg"]).removeprefix("Value error, ")
    field = str(loc[2])
    message = f"the required key {field!r} is missing"
    typo = difflib.get_close_matches(field, dropped.get(index, []), n=1, cutoff=0.6)
    if typo:
        message += f" ({typo[0]!r} is not a key: did you mean {field}?)"
    return f"[[apps]] #{index + 1}", message


def describe(
    exc: ValidationError,
    flags: Mapping[str, Any],
    toml: Mapping[str, Any],
    path: Path | None,
    dropped: Mapping[int, list[str]],
    *,
    fields: Mapping[str, FieldInfo],
    env_prefix: str,
) -> str:
    """One line for the first validation error: the key, where it came from, and why.

    Args:
        exc: the load's validation error.
        flags: the values given as overrides (CLI flags).
        toml: the TOML file's values, unknown keys already dropped.
        path: the TOML file, if one was read.
        dropped: per ``[[apps]]`` index, the unknown keys dropped from it.
        fields: the settings' fields (a field with ``repr=False`` is a secret).
        env_prefix: the prefix of the settings' environment variables.
    """
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"]]
    message = str(error["msg"]).removeprefix("Value error, ")
    if not loc:
        return f"invalid configuration: {message}"
    key = loc[0]
    dotted = ".".join(loc)
    apps = _apps_problem(error, toml, dropped)
    if apps is not None:
        dotted, message = apps
    env_name = env_prefix + key.upper()
    value = error["input"]
    shown = repr(value)
    field = fields.get(key)
    hidden = field is not None and not field.repr  # a secret: never repeated in a message
    quiet = hidden or isinstance(value, dict | list) or shown in message
    got = "" if quiet else f" (got {shown})"
    if key in flags:
        source = f"{dotted} (from the command line)"
    elif any(name.upper() == env_name for name in os.environ):
        source = env_name if len(loc) == 1 else f"{env_name} ({dotted})"
    elif key in toml:
        source = f"{dotted} in {path}"
    else:
        source = dotted
    return f"invalid {source}: {message}{got}"
