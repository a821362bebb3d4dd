"""The settings derived from the App model (:mod:`tidings.apps.base`).

App fields declare how they appear in the configuration (their ``setting``):
this module turns them into the ``[[apps]]`` table model (:data:`AppConfig`),
the top-level limits every app inherits (:data:`LIMIT_FIELDS`) and the default
app's ``default_app_*`` flags. :mod:`tidings.config.settings` adds the latter two
to :class:`~tidings.config.settings.Settings`; adding a field to App is enough
for it to show up here, in ``tidings config env`` and in the TOML file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, create_model

from tidings.apps.base import AppField, Role, app_fields
from tidings.apps.constraints import bounds, list_kind

__all__ = ["LIMIT_FIELDS", "AppConfig", "global_app_fields"]


def _parsed(f: AppField, description: str | None = None) -> Any:
    # A field with its own parser (webhooks) takes TOML tables or JSON text
    # (an environment variable); it keeps them as validated plain data, which
    # build_app parses into the field's type.
    assert f.setting.dump is not None
    return (
        Annotated[Any, BeforeValidator(f.setting.dump)],
        Field(default_factory=list, description=description or f.setting.help),
    )


def _app_config_fields() -> dict[str, Any]:
    """``[[apps]]`` keys: every non-internal App field; inherited limits default to unset."""
    fields: dict[str, Any] = {}
    for f in app_fields():
        setting = f.setting
        if setting.role is Role.INTERNAL:
            continue
        if setting.parse is not None:
            fields[f.name] = _parsed(f)
            continue
        kind: Any = list_kind(f) if f.type == tuple[str, ...] else f.type
        if f.required:
            hidden = setting.role is Role.SECRET  # never in a repr (tracebacks, logs)
            fields[f.name] = (kind, Field(min_length=1, description=setting.help, repr=not hidden))
        elif setting.inherits:
            fields[f.name] = (int | None, Field(None, ge=setting.minimum, description=setting.help))
        elif f.type == tuple[str, ...]:
            fields[f.name] = (kind, Field(default_factory=list, description=setting.help))
        else:
            fields[f.name] = (kind, Field(f.default, description=setting.help, **bounds(setting)))
    return fields


def global_app_fields() -> dict[str, Any]:
    """Top-level settings derived from App: inherited limits and the default app's flags."""
    fields: dict[str, Any] = {}
    for f in app_fields():
        setting = f.setting
        if setting.inherits:
            fields[f.name] = (
                f.type,
                Field(f.default, ge=setting.minimum, description=setting.help),
            )
        if setting.default_app:
            help = f"Default app: {setting.help[0].lower()}{setting.help[1:]}"
            if setting.parse is not None:
                fields[f"default_app_{f.name}"] = _parsed(f, help)
                continue
            if f.type == tuple[str, ...]:
                listed: Any = Field(default_factory=list, description=help)
                fields[f"default_app_{f.name}"] = (list_kind(f), listed)
                continue
            fields[f"default_app_{f.name}"] = (
                f.type,
                Field(f.default, description=help, **bounds(setting)),
            )
    return fields


#: Settings every app inherits when it leaves them unset.
LIMIT_FIELDS = tuple(f.name for f in app_fields() if f.setting.inherits)

if TYPE_CHECKING:
    AppConfig = BaseModel
else:
    AppConfig = create_model(
        "AppConfig",
        __config__=ConfigDict(extra="forbid", coerce_numbers_to_str=True),
        __doc__="One ``[[apps]]`` table: the non-internal fields of tidings.apps.base.App. "
        "A limit left unset (None) takes the global default of the same name.",
        __module__=__name__,
        **_app_config_fields(),
    )
