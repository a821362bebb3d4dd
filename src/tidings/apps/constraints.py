"""The pydantic form of an App field's constraints, shared by every input model.

The ``[[apps]]`` config tables, the ``default_app_*`` settings and the bodies of
the admin API and ``tidings apps`` all validate App fields; each takes the
bounds and item patterns of a :class:`~tidings.apps.base.Setting` from here, so
a limit is written once (in ``App``) and enforced everywhere.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from tidings.apps.base import AppField, Setting

__all__ = ["bounds", "list_kind"]


def bounds(setting: Setting) -> dict[str, Any]:
    """``Field`` keyword arguments for the setting's integer bounds (``ge``, ``le``)."""
    out: dict[str, Any] = {}
    if setting.minimum is not None:
        out["ge"] = setting.minimum
    if setting.maximum is not None:
        out["le"] = setting.maximum
    return out


def list_kind(f: AppField) -> Any:
    """The pydantic type of a list field's input: ``list[str]``, items checked by pattern."""
    pattern = f.setting.item_pattern
    if pattern is None:
        return list[str]
    return list[Annotated[str, StringConstraints(pattern=pattern)]]
