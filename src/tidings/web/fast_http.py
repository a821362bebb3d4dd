"""What the front door's fast path takes and gives: a read request, a JSON reply.

The front door (``tidings.web.front``) builds an ``HttpRequest`` from the bytes it
read and hands it to the fast path (``tidings.http.fast_publish``), which answers
with an ``HttpReply`` or ``None`` (aiohttp serves the request then). Replies are
rendered here, the few distinct ones of the current second only once.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Final, NamedTuple
from urllib.parse import parse_qsl

from aiohttp.http import SERVER_SOFTWARE

__all__ = ["BUG_REPLY", "FastPath", "HttpReply", "HttpRequest", "query_pairs", "render_reply"]


class HttpRequest(NamedTuple):
    """A complete request the fast path may serve: head parsed, body read (Content-Length)."""

    method: str
    path: str  # percent-decoded
    raw_path: str
    query: list[tuple[str, str]]  # every pair, as sent (a key may repeat)
    body: bytes


@dataclass(frozen=True, slots=True)
class HttpReply:
    """What the fast path answers: a status and a JSON body."""

    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


#: What the front door answers when the fast path itself failed (a bug in tidings).
BUG_REPLY: Final = HttpReply(
    500,
    b'{"error":"internal server error",'
    b'"hint":"a bug in tidings: the server log has the traceback"}',
)

#: Serves a request, or returns ``None`` to hand it to aiohttp (before any effect).
FastPath = Callable[[HttpRequest], Coroutine[Any, Any, HttpReply | None]]


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a query string, decoded as aiohttp decodes them."""
    if "%" in query_string or "+" in query_string:
        return parse_qsl(query_string, keep_blank_values=True)
    # What SDKs send (auth_key=...&auth_signature=<hex>): nothing to decode.
    return [
        (key, value) for key, _, value in (p.partition("=") for p in query_string.split("&") if p)
    ]


class _Replies:
    """Rendered replies of the current second: the same few are sent over and over."""

    second: ClassVar[int] = 0
    date: ClassVar[bytes] = b""
    rendered: ClassVar[dict[tuple[int, bytes, bool], bytes]] = {}


def _date() -> bytes:
    now = int(time.time())
    if _Replies.second != now:
        _Replies.second = now
        _Replies.date = email.utils.formatdate(now, usegmt=True).encode()
        _Replies.rendered = {}
    return _Replies.date


def render_reply(reply: HttpReply, *, close: bool) -> bytes:
    """The HTTP/1.1 bytes of ``reply`` (JSON, with aiohttp's ``Server`` and a ``Date``)."""
    date = _date()
    if reply.headers or len(reply.body) > 64:
        return _render(reply, date, close)
    key = (reply.status, reply.body, close)
    rendered = _Replies.rendered.get(key)
    if rendered is None:
        rendered = _Replies.rendered[key] = _render(reply, date, close)
    return rendered


def _render(reply: HttpReply, date: bytes, close: bool) -> bytes:
    status = HTTPStatus(reply.status)
    lines = [
        f"HTTP/1.1 {status.value} {status.phrase}".encode(),
        b"Content-Type: application/json; charset=utf-8",
        b"Content-Length: %d" % len(reply.body),
        b"Date: " + date,
        b"Server: " + SERVER_SOFTWARE.encode(),
    ]
    lines += [f"{name}: {value}".encode() for name, value in reply.headers]
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + reply.body
