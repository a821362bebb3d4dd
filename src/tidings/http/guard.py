"""Who may use the HTTP API: the app lookup, the request signature and the rate limits.

Order, for every signed endpoint: the app named in the URL (404 naming no other app:
ids are not for strangers), duplicated query keys (400: the signature covers one value
of each), the signature (401), the app's switch (403), then the app's per-second
budgets (429 with ``Retry-After``). Budgets are only spent by correctly signed
requests, so nobody without the secret can use up a backend's allowance.

Budgets are per app and per process: with ``--workers N`` or N nodes the cluster
accepts up to N times the rate (a proxy limits per client address; see docs/security.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Final

from aiohttp import web

from tidings.apps.base import App
from tidings.errors import NotFoundError, RateLimitError, TidingsError, echoed
from tidings.http.auth import verify_request
from tidings.protocol.ratelimit import TokenBucket
from tidings.typing import AppId
from tidings.web.state import STATE

__all__ = [
    "RATE_LIMITS",
    "RateLimits",
    "check_signature",
    "keyed_app",
    "refuse_duplicated_keys",
    "signed_app",
    "signed_paths",
]

_APPS_HINT: Final = "check the app id in the URL: `tidings config show` lists the apps"


class _Forbidden(TidingsError):
    http_status = 403


class RateLimits:
    """Per-app token buckets for backend events and for reads, made on first use.

    A bucket follows its app's current rate: an app whose limit changed gets a new one.

    Args:
        clock: a monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[AppId, str], TokenBucket] = {}

    def charge_events(self, app: App, count: int) -> None:
        """Spend ``count`` backend events of ``app``'s budget.

        Raises:
            RateLimitError: over ``max_backend_events_per_second``.
        """
        rate = app.max_backend_events_per_second
        if rate and not self._bucket(app.id, "events", rate).allow(count):
            raise RateLimitError(
                f"rate limit: app {app.id} may publish {rate} events per second "
                "(max_backend_events_per_second)",
                hint="publish less often or batch events, wait for Retry-After seconds, "
                "or raise the app's max_backend_events_per_second",
                retry_after=self._retry_after(app.id, "events"),
            )

    def charge_read(self, app: App) -> None:
        """Spend one read of ``app``'s budget.

        Raises:
            RateLimitError: over ``max_read_requests_per_second``.
        """
        rate = app.max_read_requests_per_second
        if rate and not self._bucket(app.id, "reads", rate).allow():
            raise RateLimitError(
                f"rate limit: app {app.id} may make {rate} read requests per second "
                "(max_read_requests_per_second)",
                hint="cache channel lists and counts (webhooks tell you when they change), "
                "wait for Retry-After seconds, or raise the app's max_read_requests_per_second",
                retry_after=self._retry_after(app.id, "reads"),
            )

    def _bucket(self, app_id: AppId, kind: str, rate: int) -> TokenBucket:
        bucket = self._buckets.get((app_id, kind))
        if bucket is None or bucket.rate != rate:
            bucket = self._buckets[(app_id, kind)] = TokenBucket(rate, self._clock)
        return bucket

    def _retry_after(self, app_id: AppId, kind: str) -> int:
        return max(1, math.ceil(self._buckets[(app_id, kind)].retry_after()))


#: The main application's rate limits (one per process).
RATE_LIMITS = web.AppKey("rate_limits", RateLimits)


def refuse_duplicated_keys(query: Iterable[tuple[str, str]]) -> None:
    """Refuse a query naming a key twice (case-insensitively): 400.

    The signature covers one value per key (SDKs sign a dict); a second value
    appended after signing must not ride along unsigned.

    Args:
        query: every (key, value) pair, as sent (a multidict's ``items()``).
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


def check_signature(request: web.Request, app: App, body: bytes) -> None:
    """Verify ``request`` was signed with ``app``'s secret, and that the app is enabled.

    Raises:
        TidingsError: 400, a query key given twice.
        AuthError: 401, the signature check failed.
        TidingsError: 403, the app is disabled.
    """
    refuse_duplicated_keys(request.query.items())  # items(), not keys(): those are unique
    prefix = request.app[STATE].settings.path_prefix
    verify_request(
        app,
        method=request.method,
        paths=signed_paths(request.path, request.raw_path.split("?", 1)[0], prefix),
        params=request.query,
        body=body,
        now=time.time(),
    )
    if not app.enabled:
        raise _Forbidden(f"app {app.id} is disabled", hint="enable the app to use the API")


async def signed_app(request: web.Request, body: bytes, *, read: bool = False) -> App:
    """The app named in the URL, after its request signature verified.

    Args:
        read: the request is a read (channels, users): it spends the read budget.

    Raises:
        NotFoundError: unknown app id (no other id is named).
        TidingsError / AuthError / RateLimitError: see :func:`check_signature`, then
            ``max_read_requests_per_second`` for reads.
    """
    app_id = request.match_info["app_id"]
    app = await request.app[STATE].node.apps.by_id(app_id)
    if app is None:
        raise NotFoundError(f"app {echoed(app_id)!r} does not exist", hint=_APPS_HINT)
    check_signature(request, app, body)
    if read:
        request.app[RATE_LIMITS].charge_read(app)
    return app


async def keyed_app(request: web.Request, body: bytes) -> App:
    """The app whose key is ``auth_key`` (endpoints without the app in the path).

    Raises:
        NotFoundError: no app has that key.
    """
    key = request.query.get("auth_key", "")
    app = await request.app[STATE].node.apps.by_key(key)
    if app is None:
        raise NotFoundError(
            f"no app has the key {echoed(key)!r}",
            hint="sign the request with an app's key and secret",
        )
    check_signature(request, app, body)
    return app
