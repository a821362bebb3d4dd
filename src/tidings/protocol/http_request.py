"""One HTTP/1.1 request as the main port reads it, and the error that refuses one.

``Request`` is what ``tidings.protocol.http1.RequestReader`` makes of the bytes and
what every handler of the main port takes (``tidings.http``): one request type for
WebSocket upgrades and API calls alike. ``HttpError`` is a refusal with its status,
headers and whether the connection can go on; the shell's one error renderer
(``tidings.web.reply``) turns it into ``{"error", "hint"}`` JSON.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from tidings.errors import TidingsError

__all__ = ["HttpError", "Request", "query_pairs", "split_target"]


class HttpError(TidingsError):
    """A request refused with ``status`` (the answer is ``{"error", "hint"}`` JSON).

    Args:
        headers: extra reply headers (``Allow`` on a 405, ``Retry-After``).
        close: the connection cannot go on after the answer (its bytes are not
            understood, or the body was never read).
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        hint: str = "",
        headers: tuple[tuple[str, str], ...] = (),
        close: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.http_status = status
        self.headers = headers
        self.close = close


class Request:
    """One complete request, as the client sent it.

    Attributes:
        path: the path, percent-decoded (what routes name and SDKs sign).
        raw_path: the path as sent (some SDKs sign that).
        query: every (key, value) pair of the query string, as sent (a key may repeat).
        raw_headers: the headers as sent: (name, value) bytes, in order.
        keep_alive: the client keeps the connection for another request.
        upgrade: the client asks to switch protocols (``Connection: Upgrade``).
        params: the route's path parameters, percent-decoded (set by the router).
    """

    __slots__ = (
        "_headers",
        "body",
        "keep_alive",
        "method",
        "params",
        "path",
        "query",
        "raw_headers",
        "raw_path",
        "upgrade",
        "version",
    )

    def __init__(
        self,
        method: str,
        path: str,
        raw_path: str,
        query: list[tuple[str, str]],
        raw_headers: list[tuple[bytes, bytes]],
        version: str,
        keep_alive: bool,
        upgrade: bool,
        body: bytes = b"",
    ) -> None:
        self.method = method
        self.path = path
        self.raw_path = raw_path
        self.query = query
        self.raw_headers = raw_headers
        self.version = version
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        self.body = body
        self.params: dict[str, str] = {}
        self._headers: dict[str, str] | None = None

    @property
    def headers(self) -> dict[str, str]:
        """Lowercase name -> value (latin-1, blanks after it stripped; a repeated
        header's values joined with ``", "``, RFC 9110 5.3). Decoded on first use:
        a publish never needs it."""
        headers = self._headers
        if headers is None:
            headers = self._headers = {}
            for raw_name, raw_value in self.raw_headers:
                name = raw_name.lower().decode("latin-1")
                # llhttp drops the blanks before a value, not those after it.
                value = raw_value.rstrip(b" \t").decode("latin-1")
                if name in headers:
                    value = f"{headers[name]}, {value}"
                headers[name] = value
        return headers

    def query_value(self, key: str) -> str | None:
        """The first value of query parameter ``key``, or ``None``."""
        for name, value in self.query:
            if name == key:
                return value
        return None


def query_pairs(query_string: str) -> list[tuple[str, str]]:
    """The (key, value) pairs of a query string, decoded (``+`` is a space), blanks kept."""
    if "%" in query_string or "+" in query_string:
        return parse_qsl(query_string, keep_blank_values=True)
    # What SDKs send (auth_key=...&auth_signature=<hex>): nothing to decode.
    return [
        (key, value) for key, _, value in (p.partition("=") for p in query_string.split("&") if p)
    ]


def split_target(target: str) -> tuple[str, str]:
    """(raw path, query string) of a request target; an absolute URI loses its origin."""
    if target.startswith(("http://", "https://")):
        slash = target.find("/", target.find("//") + 2)
        target = target[slash:] if slash >= 0 else "/"
    raw_path, _, query_string = target.partition("?")
    return raw_path, query_string
