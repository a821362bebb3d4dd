"""The OpenAPI 3.1 description of the admin API, served at ``/api/openapi.json``.

The request schemas are the JSON schemas of the input models derived from App
(``tidings.apps.manage``), so a new setting shows up here without an edit.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter

from tidings.apps.base import Role, app_fields
from tidings.apps.manage import CreateInput, UpdateInput
from tidings.version import __version__

__all__ = ["openapi_document"]


def _app_schema() -> dict[str, Any]:
    properties: dict[str, Any] = {}
    for f in app_fields():
        if f.setting.role is Role.INTERNAL and f.name != "previous_secret_expires_at":
            continue
        if f.setting.dump is not None:  # webhooks: the plain shape [[apps.webhooks]] takes
            schema: dict[str, Any] = {"type": "array", "items": {"type": "object"}}
        else:
            schema = TypeAdapter(f.type).json_schema()
        properties[f.name] = {**schema, "description": f.setting.help}
    properties["source"] = {"enum": ["config", "database"]}
    properties["read_only"] = {"type": "boolean", "description": "Defined in the configuration."}
    return {"type": "object", "properties": properties}


_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "hint": {"type": "string"}},
    "required": ["error"],
}


def _answer(description: str, schema: str = "App") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "Bad input (unknown field, wrong type, value out of range).",
        401: "Admin password required (Bearer token or HTTP Basic).",
        404: "No app has this id.",
        409: "Duplicate id or key, or a config-defined (read-only) app.",
        503: "The app database is unreachable.",
    }
    return {str(code): _answer(meaning[code], "Error") for code in (401, *codes)}


def _body(schema: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once)."""
    app_id = {"name": "app_id", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "tidings admin API", "version": __version__},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "basic": {"type": "http", "scheme": "basic"},
            },
            "schemas": {
                "App": _app_schema(),
                "AppCreate": CreateInput.model_json_schema(),
                "AppUpdate": UpdateInput.model_json_schema(),
                "Rotate": {
                    "type": "object",
                    "properties": {"grace": {"type": "number", "minimum": 0}},
                    "additionalProperties": False,
                },
                "AppList": {
                    "type": "object",
                    "properties": {
                        "apps": {"type": "array", "items": {"$ref": "#/components/schemas/App"}}
                    },
                },
                "Error": _ERROR,
            },
        },
        "security": [{"bearer": []}, {"basic": []}],
        "paths": {
            "/api/apps": {
                "get": {
                    "summary": "Every app, config and database (no secrets).",
                    "responses": {"200": _answer("The apps.", "AppList"), **_errors()},
                },
                "post": {
                    "summary": "Create a database app; what is not given is generated.",
                    "requestBody": _body("AppCreate"),
                    "responses": {
                        "201": _answer("The app, with its secret (shown once)."),
                        **_errors(400, 409, 503),
                    },
                },
            },
            "/api/apps/{app_id}": {
                "parameters": [app_id],
                "get": {
                    "summary": "One app, with its secret.",
                    "responses": {"200": _answer("The app."), **_errors(404)},
                },
                "patch": {
                    "summary": "Change settings; null resets a limit to the global value.",
                    "requestBody": _body("AppUpdate"),
                    "responses": {"200": _answer("The app."), **_errors(400, 404, 409, 503)},
                },
                "delete": {
                    "summary": "Delete; open connections are closed with 4003.",
                    "responses": {"204": {"description": "Deleted."}, **_errors(404, 409, 503)},
                },
            },
            "/api/apps/{app_id}/rotate-secret": {
                "parameters": [app_id],
                "post": {
                    "summary": "A new secret; the old one verifies for grace seconds (default 0).",
                    "requestBody": {**_body("Rotate"), "required": False},
                    "responses": {
                        "200": _answer("The app with its new secret."),
                        **_errors(400, 404, 409, 503),
                    },
                },
            },
        },
    }
