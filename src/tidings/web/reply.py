"""What the main port answers over HTTP: ``Reply`` values and their bytes.

Every HTTP answer of the main port is a ``Reply`` rendered here, so there is
one place that writes status lines and headers, and one error renderer:
``error_reply`` turns any ``TidingsError`` (a handler's refusal, the reader's,
the router's 404/405) into ``{"error", "hint"}`` JSON with its status and
headers (``Retry-After`` when waiting helps, ``Allow`` on a 405).

Rendering is cached per second: the same few replies (``{}`` to a publish, the
same 401) are sent over and over, and their bytes only change with ``Date``.
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, ClassVar, Final

import orjson

from tidings.errors import BrokerBufferFull, RateLimitError, TidingsError
from tidings.protocol.http_request import HttpError
from tidings.version import __version__

__all__ = [
    "BUG_REPLY",
    "EMPTY_REPLY",
    "Reply",
    "error_reply",
    "json_reply",
    "render_reply",
]

_JSON: Final = "application/json; charset=utf-8"
_SERVER: Final = f"tidings/{__version__}".encode()


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer.

    Attributes:
        headers: extra headers (``Retry-After``, ``Allow``).
        error: for a 4xx/5xx, what the caller was told (the metrics and the
            debug console show it); ``""`` otherwise.
        close: close the connection after it, whatever the client asked.
    """

    status: int
    body: bytes
    content_type: str = _JSON
    headers: tuple[tuple[str, str], ...] = ()
    error: str = ""
    close: bool = False


def json_reply(value: Any, status: int = 200) -> Reply:
    """A JSON reply of ``value`` (orjson: ``{"a": 1}`` is sent as ``{"a":1}``)."""
    return Reply(status, orjson.dumps(value))


#: A publish's answer, and every other plain ``{}``.
EMPTY_REPLY: Final = Reply(200, b"{}")

#: What the shell answers when a handler itself failed (a bug in tidings).
BUG_REPLY: Final = Reply(
    500,
    b'{"error":"internal server error",'
    b'"hint":"a bug in tidings: the server log has the traceback"}',
    error="internal server error",
    close=True,
)


def error_reply(exc: TidingsError) -> Reply:
    """``exc`` as ``{"error", "hint"}`` JSON with its status and headers."""
    headers: tuple[tuple[str, str], ...] = ()
    close = False
    if isinstance(exc, RateLimitError | BrokerBufferFull):
        headers = (("Retry-After", str(exc.retry_after)),)
    elif isinstance(exc, HttpError):
        headers, close = exc.headers, exc.close
    return Reply(
        exc.http_status,
        orjson.dumps(exc.to_json()),
        headers=headers,
        error=exc.message,
        close=close,
    )


class _Rendered:
    """Rendered replies of the current second: the same few are sent over and over."""

    second: ClassVar[int] = 0
    date: ClassVar[bytes] = b""
    cache: ClassVar[dict[tuple[int, bytes, bool, bool], bytes]] = {}


def _date() -> bytes:
    now = int(time.time())
    if _Rendered.second != now:
        _Rendered.second = now
        _Rendered.date = email.utils.formatdate(now, usegmt=True).encode()
        _Rendered.cache = {}
    return _Rendered.date


def render_reply(reply: Reply, *, close: bool, head_only: bool = False) -> bytes:
    """The HTTP/1.1 bytes of ``reply``.

    Args:
        close: say ``Connection: close`` (the shell closes after writing it).
        head_only: the answer to a ``HEAD``: the headers of the ``GET`` answer, no body.
    """
    date = _date()
    if reply.headers or reply.content_type is not _JSON or len(reply.body) > 64:
        return _render(reply, date, close, head_only)
    key = (reply.status, reply.body, close, head_only)
    rendered = _Rendered.cache.get(key)
    if rendered is None:
        rendered = _Rendered.cache[key] = _render(reply, date, close, head_only)
    return rendered


def _render(reply: Reply, date: bytes, close: bool, head_only: bool) -> bytes:
    status = HTTPStatus(reply.status)
    lines = [
        b"HTTP/1.1 %d %s" % (status.value, status.phrase.encode()),
        b"Content-Type: " + reply.content_type.encode(),
        b"Content-Length: %d" % len(reply.body),
        b"Date: " + date,
        b"Server: " + _SERVER,
    ]
    lines += [f"{name}: {value}".encode("latin-1") for name, value in reply.headers]
    if close:
        lines.append(b"Connection: close")
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    return head if head_only else head + reply.body
