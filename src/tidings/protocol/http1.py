"""HTTP/1.1 requests, sans I/O: the bytes of one connection in, complete requests out.

``RequestReader`` wraps ``httptools`` (llhttp, the C parser uvicorn and Node use)
and owns every rule about what a request may look like on the main port, so the
shell (``tidings.web.front``) only feeds bytes and serves what comes out:

- ``feed(data)`` returns the requests completed by ``data``, in order (several
  when a client pipelines them); each has its whole body.
- A request the reader refuses (malformed bytes, a head over ``max_head``, a
  body over ``max_body``) ends the connection: ``failed`` says why, as the
  ``HttpError`` to answer, and nothing more is read.
- An upgrade request (``Connection: Upgrade`` + ``Upgrade: ...``, no body) is
  the last request of the connection: ``tail`` holds the bytes that came
  behind it (the first WebSocket frames, sent in the same write).

Limits, and why each is here rather than in a handler:

- the head (request line and headers) is bounded by ``max_head``: counted from
  the parser's callbacks, and for a head that never ends (one endless header
  line, which llhttp buffers without a callback) from the raw bytes fed while
  still inside it. Either way a client cannot make it hold more than
  ``max_head`` plus one read;
- the body is bounded by ``max_body``: a ``Content-Length`` over it is refused
  before a byte of the body is read; chunked bodies as they grow.

It never reads the clock: the shell times the head and the body.
"""

from __future__ import annotations

from typing import Final
from urllib.parse import unquote

import httptools

from tidings.protocol.http_request import HttpError, Request, query_pairs, split_target

__all__ = ["MAX_HEAD", "MAX_LINE", "RequestReader"]

#: The largest request head (request line and headers): browsers send a few KiB
#: of cookies at most.
MAX_HEAD: Final = 16 * 1024
#: The longest URL or header value (aiohttp's limit, kept).
MAX_LINE: Final = 8190

# The lengths of the names the reader looks at: host, expect, content-length.
_NOTED_LENGTHS: Final = frozenset((4, 6, 14))

_WELL_FORMED: Final = "send a well-formed HTTP/1.1 request; see docs/http-api.md"


class RequestReader:
    """Reads the requests of one connection (``httptools`` callbacks land here).

    Args:
        max_body: the largest body accepted (413 over it).
        max_head: the largest head accepted (400 over it).
    """

    __slots__ = (
        "_body",
        "_body_size",
        "_expect",
        "_head",
        "_head_size",
        "_headers",
        "_host",
        "_in_head",
        "_length",
        "_max_body",
        "_max_head",
        "_parser",
        "_raw_head",
        "_raw_head_began",
        "_ready",
        "_url",
        "expect_continue",
        "failed",
        "tail",
        "upgraded",
    )

    def __init__(self, *, max_body: int, max_head: int = MAX_HEAD) -> None:
        self._max_body = max_body
        self._max_head = max_head
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._ready: list[Request] = []
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._host = False
        self._length: bytes | None = None
        self._expect: bytes | None = None
        self._head: Request | None = None  # the request whose body is being read
        self._body: list[bytes] = []
        self._body_size = 0
        self._head_size = 0
        self._raw_head = 0
        self._raw_head_began = False
        self._in_head = False
        #: The head in asks for ``100 Continue`` and its body is not in yet.
        self.expect_continue = False
        #: Why the connection's bytes were refused; nothing more is read.
        self.failed: HttpError | None = None
        #: The last request asked for an upgrade; ``tail`` came behind it.
        self.upgraded = False
        self.tail = b""

    def release(self) -> None:
        """Drop the parser: the connection is gone or upgraded, and nothing more is read.

        The parser holds this reader for its callbacks and this reader holds the
        parser: a reference cycle that only a full collection would free.
        """
        self._parser = None
        self._head = None
        self.upgraded = True  # feed() reads nothing from now on

    @property
    def mid_request(self) -> bool:
        """Part of a request (head or body) is in, the rest is not."""
        return self._in_head or self._head is not None

    @property
    def pending(self) -> Request | None:
        """The request whose head is in and whose body is still being read."""
        return self._head

    @property
    def in_body(self) -> bool:
        """A head is in and its body is not complete yet."""
        return self._head is not None

    def feed(self, data: bytes) -> list[Request]:
        """The requests ``data`` completes, in order; see ``failed`` and ``tail`` after it."""
        parser = self._parser
        if parser is None or self.failed is not None or self.upgraded:
            return []
        # Whether all of ``data`` is inside one head: it was open before, and no
        # other began meanwhile (a new head is counted by the callbacks).
        head_before = self._in_head
        self._raw_head_began = False
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as upgrade:
            self.upgraded = True
            self.tail = data[upgrade.args[0] :]
            if self._ready:
                self._ready[-1].upgrade = True
        except httptools.HttpParserError as exc:
            if self.failed is None:  # else a callback refused and set it
                self.failed = self._malformed(exc)
        else:
            # A head still open after a read that was all inside it: count the raw
            # bytes (llhttp keeps an unfinished header line without telling us).
            if self._in_head and head_before and not self._raw_head_began:
                self._raw_head += len(data)
                if self._raw_head > self._max_head:
                    self.failed = _head_too_large(self._max_head)
        ready, self._ready = self._ready, []
        return ready

    def _malformed(self, exc: httptools.HttpParserError) -> HttpError:
        """The refusal of bytes llhttp could not parse (in the head, or in a body)."""
        text = str(exc) or type(exc).__name__
        if isinstance(exc, httptools.HttpParserInvalidMethodError):
            return HttpError(400, f"not an HTTP request: {text}", hint=_WELL_FORMED, close=True)
        if self._head is not None:
            return HttpError(
                400,
                f"malformed request body: {text}",
                hint="send a Content-Length that matches the body, or valid chunked encoding",
                close=True,
            )
        return HttpError(400, f"malformed HTTP request: {text}", hint=_WELL_FORMED, close=True)

    def _refuse(self, error: HttpError) -> None:
        """Called from a callback: the parser raises ``HttpParserCallbackError`` next."""
        self.failed = error
        raise error

    # -- httptools callbacks ------------------------------------------------------------

    def on_message_begin(self) -> None:
        """A request starts: its head is counted from here."""
        self._raw_head_began = True
        self._in_head = True
        self._url = b""
        self._headers = []
        self._host = False
        self._length = None
        self._expect = None
        self._head_size = 0
        self._raw_head = 0

    def on_url(self, url: bytes) -> None:
        """A piece of the request target (llhttp may give it in several)."""
        self._url += url
        self._head_size += len(url)
        if len(self._url) > MAX_LINE or self._head_size > self._max_head:
            self._refuse(_head_too_large(self._max_head))

    def on_header(self, name: bytes, value: bytes) -> None:
        """One complete header; the few the reader needs are noted on the way."""
        self._headers.append((name, value))
        self._head_size += len(name) + len(value) + 4
        if len(value) > MAX_LINE or self._head_size > self._max_head:
            self._refuse(_head_too_large(self._max_head))
        if len(name) in _NOTED_LENGTHS:  # the few headers the reader itself needs
            lowered = name.lower()
            if lowered == b"host":
                self._host = True
            elif lowered == b"content-length":
                self._length = value
            elif lowered == b"expect":
                self._expect = value

    def on_headers_complete(self) -> None:
        """The head is in: refuse it now (no Host, a body over the limit) or keep it."""
        self._in_head = False
        parser = self._parser
        assert parser is not None  # callbacks only come from it
        version = parser.get_http_version()
        if version == "1.1" and not self._host:
            self._refuse(
                HttpError(
                    400,
                    "malformed HTTP request: the Host header is missing",
                    hint=_WELL_FORMED,
                    close=True,
                )
            )
        length = self._length  # llhttp checked it is one number
        if length is not None and int(length) > self._max_body:
            self._refuse(_body_too_large(self._max_body))
        raw_path, query_string = split_target(self._url.decode("latin-1"))
        path = unquote(raw_path) if "%" in raw_path else raw_path
        self._head = Request(
            parser.get_method().decode("ascii"),
            path,
            raw_path,
            query_pairs(query_string),
            self._headers,
            version,
            parser.should_keep_alive(),
            parser.should_upgrade(),
        )
        self._body = []
        self._body_size = 0
        expect = self._expect
        self.expect_continue = expect is not None and expect.strip().lower() == b"100-continue"

    def on_body(self, body: bytes) -> None:
        """A piece of the body (de-chunked by llhttp), counted against ``max_body``."""
        self._body_size += len(body)
        if self._body_size > self._max_body:
            self._refuse(_body_too_large(self._max_body))
        self._body.append(body)

    def on_message_complete(self) -> None:
        """The request is complete: it joins the ones ``feed`` returns."""
        request = self._head
        if request is None:  # pragma: no cover (llhttp always completes a head first)
            return
        self._head = None
        self.expect_continue = False
        body = self._body
        if body:
            request.body = body[0] if len(body) == 1 else b"".join(body)
            self._body = []
        self._ready.append(request)


def _head_too_large(limit: int) -> HttpError:
    return HttpError(
        400,
        f"request line or header too long: over {MAX_LINE} bytes, or a head over {limit}",
        hint="keep the URL and each header under 8 KiB, and all of them under 16 KiB",
        close=True,
    )


def _body_too_large(limit: int) -> HttpError:
    return HttpError(
        413,
        f"request body too large: the limit is {limit} bytes",
        hint="send less data per request (limits: docs/http-api.md#limits)",
        close=True,
    )
