"""Validated writes to the app database: what ``tidings apps`` and the admin API share.

Input is checked against models derived from App's fields (unknown fields and
wrong types are refused with the field named), apps defined in the
configuration are read-only (409), and ids and keys stay unique across both
sources. Every write is one database transaction: on any error nothing is
written. Secrets are generated with :mod:`secrets` when not given.
"""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model

from tidings.apps.base import App, Role, app_fields, build_app
from tidings.apps.constraints import bounds, list_kind
from tidings.apps.database import AppDatabase
from tidings.errors import ConflictError, NotFoundError, TidingsError

__all__ = [
    "AppManager",
    "InputError",
    "Source",
    "app_from_row",
    "app_view",
    "parse_create",
    "parse_update",
]

Source = Literal["config", "database"]

#: Ids and keys appear in URL paths (/apps/{id}/events, /app/{key}).
NAME_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
_FIXED = {
    "id": "an app's id cannot change: create a new app",
    "key": "an app's key cannot change: create a new app",
    "secret": "change the secret with rotate-secret",
}


class InputError(TidingsError):
    """A create or update body that does not fit the App definition (400)."""


def _input_model(name: str, roles: set[Role]) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    kind: Any
    for f in app_fields():
        setting = f.setting
        if setting.role not in roles:
            continue
        if setting.dump is not None:
            # Its own parser (webhooks): kept as validated plain data, as stored.
            kind = Annotated[Any, BeforeValidator(setting.dump)]
            fields[f.name] = (kind, Field(None, description=setting.help))
            continue
        kind = list_kind(f) if f.type == tuple[str, ...] else f.type
        constraints: dict[str, Any] = {"description": setting.help}
        if setting.role is Role.IDENTITY:
            constraints["pattern"] = NAME_PATTERN
        elif setting.role is Role.SECRET:
            constraints["min_length"] = 8
        constraints.update(bounds(setting))
        optional = f.required or setting.inherits
        fields[f.name] = (kind | None if optional else kind, Field(None, **constraints))
    model: type[BaseModel] = create_model(
        name, __config__=ConfigDict(extra="forbid", strict=False), **fields
    )
    return model


#: Bodies of create (every non-internal field, all optional) and update (settings only).
CreateInput = _input_model("AppCreate", {Role.IDENTITY, Role.SECRET, Role.SETTING})
UpdateInput = _input_model("AppUpdate", {Role.SETTING})


def _parse(model: type[BaseModel], data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise InputError("the body must be a JSON object", hint='send {"name": "...", ...}')
    try:
        parsed = model.model_validate(dict(data))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "value_error":  # a field parser's own message names the key
            message = str(error["msg"]).removeprefix("Value error, ")
            raise InputError(f"invalid {where}: {message}", hint="see docs/apps.md") from None
        if error["type"] == "extra_forbidden":
            raise InputError(
                f"unknown field {where!r}",
                hint="GET /api/openapi.json (or `tidings apps create --help`) lists the fields",
            ) from None
        raise InputError(
            f"invalid {where}: {error['msg']} (got {error['input']!r})",
            hint=model.model_fields[where].description or "" if where in model.model_fields else "",
        ) from None
    return {name: getattr(parsed, name) for name in parsed.model_fields_set}


def parse_create(data: Any) -> dict[str, Any]:
    """The given fields of a create body, validated (``None``: generate / inherit).

    Raises:
        InputError: unknown field, wrong type or value out of range.
    """
    return _parse(CreateInput, data)


def parse_update(data: Any) -> dict[str, Any]:
    """The fields an update body changes, validated (``None`` resets a limit to inherit).

    Raises:
        InputError: unknown or unchangeable field, wrong type or value out of range.
    """
    if isinstance(data, Mapping):
        for name, hint in _FIXED.items():
            if name in data:
                raise InputError(f"{name} cannot be updated", hint=hint)
    changes = _parse(UpdateInput, data)
    if not changes:
        raise InputError("nothing to update", hint="give at least one field to change")
    return changes


def _config_owner(app: App) -> str:
    if app.name == "default":  # Settings.app_list's default app
        return "the default app (change it with TIDINGS_DEFAULT_APP_ID/KEY/SECRET or [[apps]])"
    return "an app of the configuration (tidings.toml)"


def app_from_row(row: Mapping[str, Any], inherited: Mapping[str, Any], now: float) -> App:
    """The App a database row stands for at time ``now`` (an expired previous secret dropped)."""
    expires = row.get("previous_secret_expires_at")
    if expires is not None and expires <= now:
        row = {**row, "previous_secret": None, "previous_secret_expires_at": None}
    return build_app(row, inherited)


def app_view(app: App, *, source: Source, show_secret: bool = False) -> dict[str, Any]:
    """The JSON form of an app for the CLI and the API (the secret only when asked)."""
    view: dict[str, Any] = {}
    for f in app_fields():
        value = getattr(app, f.name)
        if f.setting.role is Role.INTERNAL:
            if f.name == "previous_secret_expires_at" and value is not None:
                view[f.name] = value
            continue
        if f.setting.role is Role.SECRET and not show_secret:
            continue
        if f.setting.dump is not None:
            value = f.setting.dump(value)
        view[f.name] = list(value) if isinstance(value, tuple) else value
    view["source"] = source
    view["read_only"] = source == "config"
    return view


class AppManager:
    """Create, change and delete database apps, beside read-only config apps.

    Args:
        database: the open app database.
        config_apps: the apps of the configuration (read-only, ids and keys reserved).
        inherited: the values of limits an app leaves unset.
    """

    def __init__(
        self, database: AppDatabase, config_apps: Sequence[App], inherited: Mapping[str, Any]
    ) -> None:
        self.database = database
        self._config: dict[str, App] = {app.id: app for app in config_apps}
        self._config_keys = {app.key for app in config_apps}
        self._inherited = dict(inherited)

    def _app(self, row: Mapping[str, Any]) -> App:
        return app_from_row(row, self._inherited, time.time())

    def _writable(self, app_id: str) -> None:
        if app_id in self._config:
            raise ConflictError(
                f"app {app_id} is defined in the configuration and is read-only",
                hint="change it in tidings.toml or the TIDINGS_* environment and restart",
            )

    # -- reads ------------------------------------------------------------------

    def list(self) -> list[tuple[App, Source]]:
        """Config apps first, then database apps (those shadowed by a config app left out)."""
        result: list[tuple[App, Source]] = [(app, "config") for app in self._config.values()]
        _, rows = self.database.load()
        for row in rows:
            if row["id"] not in self._config and row["key"] not in self._config_keys:
                result.append((self._app(row), "database"))
        return result

    def get(self, app_id: str) -> tuple[App, Source]:
        """One app by id, with where it is defined.

        Raises:
            NotFoundError: no such app.
        """
        if app_id in self._config:
            return self._config[app_id], "config"
        row = self.database.get(app_id)
        if row is None:
            raise NotFoundError(f"no app has the id {app_id!r}", hint="`tidings apps list`")
        return self._app(row), "database"

    # -- writes -----------------------------------------------------------------

    def create(self, data: Mapping[str, Any]) -> App:
        """Add an app from a create body; generates the id, key and secret not given.

        Raises:
            InputError: the body does not fit; ConflictError: id or key taken.
        """
        values = parse_create(data)
        for name in ("id", "key"):
            given = values.get(name)
            taken = self._config if name == "id" else self._config_keys
            if given is not None and given in taken:
                raise ConflictError(
                    f"the {name} {given!r} belongs to an app of the configuration",
                    hint=f"app {name}s are unique across the configuration and the database",
                )
        if values.get("id") is None:
            values["id"] = self._new_id()
        if values.get("key") is None:
            values["key"] = secrets.token_hex(10)
        if values.get("secret") is None:
            values["secret"] = secrets.token_hex(20)
        return self._app(self.database.insert(values))

    def check_import(self, bodies: Sequence[Mapping[str, Any]]) -> builtins.list[str | None]:
        """Why each create body of an import would be refused (``None``: it would not).

        Each must give its id, key and secret, fit the App definition, and take an id
        and key that no config app, database app or earlier body has. Nothing is written.
        """
        _, rows = self.database.load()
        ids = {row["id"]: "an app in the database" for row in rows}
        keys = {row["key"]: "an app in the database" for row in rows}
        for app in self._config.values():
            ids[app.id] = keys[app.key] = _config_owner(app)
        problems: builtins.list[str | None] = []
        for index, body in enumerate(bodies):
            try:
                values = parse_create(body)
            except InputError as exc:
                problems.append(exc.message)
                continue
            missing = [name for name in ("id", "key", "secret") if values.get(name) is None]
            if missing:
                problems.append(f"no {' or '.join(missing)} given")
                continue
            problem: str | None = None
            for name, taken in (("id", ids), ("key", keys)):
                owner = taken.get(values[name])
                if owner is not None and problem is None:
                    problem = f"the {name} {values[name]!r} is taken by {owner}"
            problems.append(problem)
            source = f"app #{index + 1} of this import"
            ids.setdefault(values["id"], source)
            keys.setdefault(values["key"], source)
        return problems

    def import_apps(self, bodies: Sequence[Mapping[str, Any]]) -> builtins.list[App]:
        """Create every app of ``bodies`` in one transaction: all of them, or none.

        Raises:
            InputError, ConflictError: the first refusal :meth:`check_import` finds
                (or a clash another writer made meanwhile); nothing is written.
        """
        for body, problem in zip(bodies, self.check_import(bodies), strict=True):
            if problem is not None:
                raise ConflictError(
                    f"app {body.get('id')!r}: {problem}", hint="nothing was imported"
                )
        rows = self.database.insert_many([parse_create(body) for body in bodies])
        return [self._app(row) for row in rows]

    def _new_id(self) -> str:
        # Numeric, as the PyPI pusher SDK requires; collisions are retried.
        for _ in range(20):
            candidate = str(secrets.randbelow(9_000_000) + 1_000_000)
            if candidate not in self._config and self.database.get(candidate) is None:
                return candidate
        raise ConflictError("could not pick a free app id", hint="pass --id")  # pragma: no cover

    def update(self, app_id: str, data: Mapping[str, Any]) -> App:
        """Change the settings an update body names.

        Raises:
            InputError, ConflictError (config app), NotFoundError.
        """
        self._writable(app_id)
        changes = parse_update(data)
        return self._app(self.database.update(app_id, changes))

    def set_enabled(self, app_id: str, enabled: bool) -> App:
        """Enable or disable an app (a disabled app's connections are closed with 4003)."""
        self._writable(app_id)
        return self._app(self.database.update(app_id, {"enabled": enabled}))

    def rotate_secret(self, app_id: str, grace: float = 0.0) -> App:
        """A new secret; the old one keeps verifying for ``grace`` seconds (0: stops at once).

        Raises:
            InputError: a negative grace; ConflictError; NotFoundError.
        """
        self._writable(app_id)
        if not grace >= 0:
            raise InputError(f"invalid grace {grace!r}", hint="give seconds, 0 or more")
        current, _ = self.get(app_id)
        changes: dict[str, Any] = {
            "secret": secrets.token_hex(20),
            "previous_secret": current.secret if grace > 0 else None,
            "previous_secret_expires_at": time.time() + grace if grace > 0 else None,
        }
        return self._app(self.database.update(app_id, changes))

    def delete(self, app_id: str) -> None:
        """Remove an app (its connections are closed with 4003, its key then unknown).

        Raises:
            ConflictError (config app), NotFoundError.
        """
        self._writable(app_id)
        self.database.delete(app_id)
