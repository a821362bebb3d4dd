"""The main port's one route table: ``Router.resolve`` finds the route of a request.

A route is a method set, a path template (``/apps/{app_id}/events``; a
``{name}`` matches one path segment, ``{name:.*}`` the rest of the path) and
either a handler or a wire (its WebSocket endpoint). Templates match the raw
path, segment by segment, and parameters are percent-decoded after the match,
so ``%2F`` in a channel name never splits a segment.

``resolve`` is pure (no socket, no node): the unit tests drive it directly.
An unknown path is a 404 and a known path with another method a 405 (with
``Allow``), both ``HttpError`` for the one error renderer. ``GET`` routes also
answer ``HEAD`` (without a body), as aiohttp's did; WebSocket routes take
``GET`` only (RFC 6455 4.1).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import unquote

from tidings.errors import echoed
from tidings.http.ratelimits import RateLimits
from tidings.protocol.http_request import HttpError, Request
from tidings.web.reply import Reply
from tidings.web.state import ServerState
from tidings.wires.base import Wire

__all__ = ["ANY", "Api", "Handler", "Route", "Router"]

_DOCS_HINT: Final = "see docs/http-api.md for the endpoints and their parameters"

#: How many resolved paths are remembered (cleared when full).
_KNOWN_PATHS: Final = 1024

#: A route's methods when it takes any (the ``/pusher/*`` hint).
ANY: Final = frozenset[str]()


@dataclass(eq=False, slots=True)
class Api:
    """What every handler is given beside its request.

    Attributes:
        limits: the per-app rate limits (one set per process).
    """

    state: ServerState
    limits: RateLimits = field(default_factory=RateLimits)


Handler = Callable[[Request, Api], Awaitable[Reply]]
"""Answers one request; refusals are raised as ``TidingsError`` (rendered by the caller)."""


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """One endpoint.

    Attributes:
        methods: the methods it takes (``ANY``: every one); ``GET`` brings ``HEAD``.
        template: its path (also its name in the metrics: ``endpoint``).
        handler: the HTTP handler, or ``None`` for a WebSocket endpoint.
        wire: the wire whose WebSocket endpoint this is.
    """

    methods: frozenset[str]
    template: str
    handler: Handler | None = None
    wire: Wire | None = None
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pattern", _compile(self.template))

    def allows(self, method: str) -> bool:
        """Whether ``method`` is served here."""
        methods = self.methods
        if not methods or method in methods:
            return True
        return method == "HEAD" and "GET" in methods and self.wire is None

    def allowed(self) -> str:
        """The ``Allow`` header's value."""
        methods = set(self.methods)
        if "GET" in methods and self.wire is None:
            methods.add("HEAD")
        return ", ".join(sorted(methods))


def _compile(template: str) -> re.Pattern[str]:
    """``/apps/{app_id}/events`` as a regex on the raw path."""
    out = []
    for part in re.split(r"(\{\w+(?::[^}]*)?\})", template):
        found = re.fullmatch(r"\{(\w+)(?::([^}]*))?\}", part)
        if found is None:
            out.append(re.escape(part))
        else:
            out.append(f"(?P<{found[1]}>{found[2] or '[^/]+'})")
    return re.compile("".join(out))


class Router:
    """Routes by path, then method; the first route whose template matches wins.

    Routes are grouped by their first path segment, so a request is matched
    against the few routes of its group (``apps``: the Pusher API), not all.
    """

    def __init__(self, routes: Sequence[Route]) -> None:
        self.routes = tuple(routes)
        # (method, raw path) -> the route and its parameters, for the paths asked
        # again and again (a backend publishes to /apps/1/events all day).
        self._known: dict[tuple[str, str], tuple[Route, dict[str, str]]] = {}
        self._groups: dict[str, list[Route]] = {}
        self._open: list[Route] = []  # templates whose first segment is a parameter
        for route in self.routes:
            first = route.template.split("/", 2)[1] if route.template.count("/") else ""
            if "{" in first:
                self._open.append(route)
            else:
                self._groups.setdefault(first, []).append(route)

    def resolve(self, request: Request) -> Route:
        """The route of ``request``; sets ``request.params`` (percent-decoded).

        Raises:
            HttpError: 404 for an unknown path, 405 (with ``Allow``) for a known
                path and another method.
        """
        raw_path = request.raw_path
        known = self._known.get((request.method, raw_path))
        if known is not None:
            request.params = known[1].copy()
            return known[0]
        first = raw_path.split("/", 2)[1] if raw_path.startswith("/") else ""
        refused: Route | None = None
        candidates: list[Route] = self._groups.get(first, [])
        for route in (*candidates, *self._open):
            found = route.pattern.fullmatch(raw_path)
            if found is None:
                continue
            if not route.allows(request.method):
                refused = refused or route
                continue
            params = {
                name: unquote(value) if "%" in value else value
                for name, value in found.groupdict().items()
            }
            if len(self._known) >= _KNOWN_PATHS:
                self._known.clear()  # bounded, whatever paths clients make up
            self._known[(request.method, raw_path)] = (route, params)
            request.params = params.copy()
            return route
        if refused is not None:
            allowed = refused.allowed()
            raise HttpError(
                405,
                f"method {request.method} is not allowed on {echoed(request.path)}",
                hint=f"use {allowed}",
                headers=(("Allow", allowed),),
            )
        raise HttpError(
            404,
            f"no such endpoint: {request.method} {echoed(request.path)}",
            hint=_DOCS_HINT,
        )
