"""Who may use the HTTP API: the app lookup, the request signature and the rate limits.

Order, for every signed endpoint: the app named in the URL (404 naming no other app:
ids are not for strangers), duplicated query keys (400: the signature covers one value
of each), the signature (401), the app's switch (403), then the app's per-second
budgets (429 with ``Retry-After``, ``tidings.http.ratelimits``). Budgets are only
spent by correctly signed requests, so nobody without the secret can use up a
backend's allowance. Every endpoint goes through here: the checks exist once.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Final

from tidings.apps.base import App
from tidings.errors import NotFoundError, TidingsError, echoed
from tidings.http.auth import verify_request
from tidings.http.router import Api
from tidings.protocol.http_request import Request

__all__ = [
    "check_signature",
    "keyed_app",
    "refuse_duplicated_keys",
    "signed_app",
    "signed_paths",
]

_APPS_HINT: Final = "check the app id in the URL: `tidings config show` lists the apps"


class _Forbidden(TidingsError):
    http_status = 403


def refuse_duplicated_keys(query: Iterable[tuple[str, str]]) -> None:
    """Refuse a query naming a key twice (case-insensitively): 400.

    The signature covers one value per key (SDKs sign a dict); a second value
    appended after signing must not ride along unsigned.

    Args:
        query: every (key, value) pair, as sent.
    """
    seen: set[str] = set()
    for key, _ in query:
        lowered = key.lower()
        if lowered in seen:
            raise TidingsError(
                f"query parameter {echoed(key)!r} appears more than once",
                hint="send each query parameter once: the signature covers a single value",
            )
        seen.add(lowered)


def signed_paths(path: str, raw_path: str, prefix: str) -> tuple[str, ...]:
    """The paths a client may have signed for a request to ``path``.

    SDKs sign the path unencoded (``path``) or as sent (``raw_path``); a
    prefix-stripping proxy hides the ``prefix`` the client signed.
    """
    if path == raw_path and not prefix:
        return (path,)  # the common case, on every publish: no list, no dict
    candidates = [path, raw_path]
    if prefix:
        candidates += [prefix + path, prefix + raw_path]
    return tuple(dict.fromkeys(candidates))


def check_signature(request: Request, api: Api, app: App) -> None:
    """Verify ``request`` was signed with ``app``'s secret, and that the app is enabled.

    Raises:
        TidingsError: 400, a query key given twice.
        AuthError: 401, the signature check failed.
        TidingsError: 403, the app is disabled.
    """
    refuse_duplicated_keys(request.query)
    verify_request(
        app,
        method=request.method,
        paths=signed_paths(request.path, request.raw_path, api.state.settings.path_prefix),
        params=dict(request.query),
        body=request.body,
        now=time.time(),
    )
    if not app.enabled:
        raise _Forbidden(f"app {app.id} is disabled", hint="enable the app to use the API")


async def signed_app(request: Request, api: Api, *, read: bool = False) -> App:
    """The app named in the URL, after its request signature verified.

    Args:
        read: the request is a read (channels, users): it spends the read budget.

    Raises:
        NotFoundError: unknown app id (no other id is named).
        TidingsError / AuthError / RateLimitError: see :func:`check_signature`, then
            ``max_read_requests_per_second`` for reads.
    """
    app_id = request.params["app_id"]
    app = await api.state.node.apps.by_id(app_id)
    if app is None:
        raise NotFoundError(f"app {echoed(app_id)!r} does not exist", hint=_APPS_HINT)
    check_signature(request, api, app)
    if read:
        api.limits.charge_read(app)
    return app


async def keyed_app(request: Request, api: Api) -> App:
    """The app whose key is ``auth_key`` (endpoints without the app in the path).

    Raises:
        NotFoundError: no app has that key.
    """
    key = request.query_value("auth_key") or ""
    app = await api.state.node.apps.by_key(key)
    if app is None:
        raise NotFoundError(
            f"no app has the key {echoed(key)!r}",
            hint="sign the request with an app's key and secret",
        )
    check_signature(request, api, app)
    return app
