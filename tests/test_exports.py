"""The public face: every name in ``tidings.__all__`` resolves to its defining module's object,
and ``import tidings`` stays cheap (nothing is imported until a name is used)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import tidings


def test_every_public_name_resolves_to_its_home() -> None:
    for name in tidings.__all__:
        value = getattr(tidings, name)
        if name == "__version__":
            assert isinstance(value, str) and value
            continue
        home = importlib.import_module(tidings._EXPORTS[name])
        assert getattr(home, name) is value, name
    assert sorted(tidings.__all__) == sorted([*tidings._EXPORTS, "__version__"])


def test_unknown_names_raise_attribute_error() -> None:
    try:
        tidings.Nope  # noqa: B018
    except AttributeError as exc:
        assert "Nope" in str(exc)
    else:
        raise AssertionError("tidings.Nope resolved")


def test_import_is_lazy() -> None:
    code = "import sys, tidings; print('aiohttp' in sys.modules, 'tidings.core' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
