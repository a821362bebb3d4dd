"""The admin API for apps: ``/api/apps`` (list, create), ``/api/apps/{id}`` (show,
change, delete) and ``/api/apps/{id}/rotate-secret``, plus ``/api/openapi.json``.

JSON in and out; every error is ``{"error", "hint"}`` with its status (400 bad
input, 404 unknown app, 409 duplicate id/key or a config app, 503 database
down). A write is one database transaction; when it commits, this node
refreshes at once (closing a disabled app's connections with 4003) and the
other nodes within ``database_poll_interval``. Secrets appear only in the
answers of create, rotate-secret and ``GET /api/apps/{id}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import orjson
from aiohttp import web

from tidings.admin.keys import STATE
from tidings.admin.openapi import openapi_document
from tidings.admin.webhooks_api import WEBHOOKS
from tidings.apps.catalog import AppCatalog
from tidings.apps.manage import AppManager, InputError, app_view
from tidings.errors import NotFoundError, TidingsError, UnavailableError
from tidings.web.app_sync import apply_app_changes

__all__ = ["add_app_routes", "error_middleware"]

_T = TypeVar("_T")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


@web.middleware
async def error_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turn a :class:`TidingsError` into its ``{"error", "hint"}`` answer."""
    try:
        response: web.StreamResponse = await handler(request)
    except TidingsError as exc:
        return _json(exc.to_json(), status=exc.http_status)
    return response


def _catalog(request: web.Request) -> AppCatalog:
    catalog = request.app[STATE].node.apps
    if not isinstance(catalog, AppCatalog) or catalog.database is None:
        raise UnavailableError(
            "this node has no app database", hint="set database_url (TIDINGS_DATABASE_URL)"
        )
    return catalog


async def _write(request: web.Request, action: Callable[[AppManager], _T]) -> _T:
    """Run ``action`` off the loop, then apply the change on this node at once."""
    catalog = _catalog(request)
    result = await asyncio.to_thread(action, catalog.manager())
    try:
        changes = await catalog.refresh()
    except UnavailableError:
        return result  # written; the follow loop applies it when the database answers
    apply_app_changes(request.app[STATE].node, changes)
    if changes and WEBHOOKS in request.app:
        await request.app[WEBHOOKS].refresh()
    return result


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InputError(f"the body is not valid JSON ({exc})", hint="send a JSON object") from None


async def _list(request: web.Request) -> web.Response:
    catalog = request.app[STATE].node.apps
    apps = []
    for app in await catalog.all():
        source = catalog.source(app.id) if isinstance(catalog, AppCatalog) else "config"
        apps.append(app_view(app, source=source or "config"))
    return _json({"apps": apps})


async def _create(request: web.Request) -> web.Response:
    data = await _body(request)
    app = await _write(request, lambda manager: manager.create(data))
    return _json(app_view(app, source="database", show_secret=True), status=201)


async def _show(request: web.Request) -> web.Response:
    app_id = request.match_info["app_id"]
    catalog = request.app[STATE].node.apps
    app = await catalog.by_id(app_id)
    if app is None:
        raise NotFoundError(f"no app has the id {app_id!r}", hint="GET /api/apps lists them")
    source = catalog.source(app_id) if isinstance(catalog, AppCatalog) else "config"
    return _json(app_view(app, source=source or "config", show_secret=True))


async def _update(request: web.Request) -> web.Response:
    app_id = request.match_info["app_id"]
    data = await _body(request)
    app = await _write(request, lambda manager: manager.update(app_id, data))
    return _json(app_view(app, source="database"))


async def _delete(request: web.Request) -> web.Response:
    app_id = request.match_info["app_id"]
    await _write(request, lambda manager: manager.delete(app_id))
    return web.Response(status=204)


async def _rotate(request: web.Request) -> web.Response:
    app_id = request.match_info["app_id"]
    data = await _body(request)
    if not isinstance(data, dict) or set(data) - {"grace"}:
        raise InputError("the body may only have grace", hint='send {"grace": seconds} or nothing')
    grace = data.get("grace", 0)
    if isinstance(grace, bool) or not isinstance(grace, int | float):
        raise InputError(f"invalid grace {grace!r}", hint="seconds the old secret stays valid")
    app = await _write(request, lambda manager: manager.rotate_secret(app_id, float(grace)))
    return _json(app_view(app, source="database", show_secret=True))


async def _openapi(request: web.Request) -> web.Response:
    return _json(openapi_document())


def add_app_routes(app: web.Application) -> None:
    """Register the app routes and the OpenAPI document on the admin application."""
    router = app.router
    router.add_get("/api/openapi.json", _openapi)
    router.add_get("/api/apps", _list)
    router.add_post("/api/apps", _create)
    router.add_get("/api/apps/{app_id}", _show)
    router.add_patch("/api/apps/{app_id}", _update)
    router.add_delete("/api/apps/{app_id}", _delete)
    router.add_post("/api/apps/{app_id}/rotate-secret", _rotate)
