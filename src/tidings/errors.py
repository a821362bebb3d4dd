"""The tidings exception tree.

Every error a user can cause carries what went wrong and how to fix it, plus the
wire form each boundary needs: ``pusher_code`` for a ``pusher:error`` frame and
``http_status`` for the HTTP API. The core raises; the boundary converts.

::

    TidingsError
    ├── ProtocolError            a client sent something the protocol forbids
    │   ├── MessageError             bad / unknown / oversize message (pusher:error)
    │   ├── SubscriptionError        a subscribe was refused (pusher:subscription_error)
    │   └── ConnectionRejected       the connection is refused (4001, 4003, 4007...)
    ├── AuthError                signature or token did not verify (401)
    ├── LimitError               a documented limit was exceeded (413 / 400)
    │   └── RateLimitError           a per-app rate limit was exceeded (429, Retry-After)
    ├── BrokerBufferFull         Redis down and the outage buffer full (503, Retry-After)
    ├── NotFoundError            unknown app, channel or route (404)
    ├── ConflictError            a write that clashes: duplicate id/key, a config app (409)
    ├── UnavailableError         a store that cannot be reached (503)
    └── ConfigError              invalid configuration (CLI exits non-zero)

Pusher close / error code ranges (protocol v7): 4000-4099 the client must not
reconnect; 4100-4199 reconnect with backoff; 4200-4299 reconnect at once;
4300-4399 any other error (the connection stays open).
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "BrokerBufferFull",
    "ConfigError",
    "ConflictError",
    "MAX_ECHO",
    "ConnectionRejected",
    "LimitError",
    "MessageError",
    "NotFoundError",
    "ProtocolError",
    "RateLimitError",
    "SubscriptionError",
    "TidingsError",
    "UnavailableError",
    "echoed",
]

#: The most characters of client input an error message repeats.
MAX_ECHO = 200


def echoed(text: str) -> str:
    """``text`` as an error message may repeat it: cut to :data:`MAX_ECHO` characters.

    A client that sends 100 KB of channel name must not get 100 KB back (or fill logs).
    """
    if len(text) <= MAX_ECHO:
        return text
    return f"{text[:MAX_ECHO]}... ({len(text)} characters)"


class TidingsError(Exception):
    """Root of every tidings error.

    Args:
        message: what went wrong, in words a user understands.
        hint: how to fix it; empty when there is nothing to add.
    """

    http_status: int = 400
    pusher_code: int | None = None

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def to_json(self) -> dict[str, str]:
        """The HTTP error body: ``{"error": ..., "hint": ...}``."""
        body = {"error": self.message}
        if self.hint:
            body["hint"] = self.hint
        return body


class ProtocolError(TidingsError):
    """A client broke the wire protocol."""


class MessageError(ProtocolError):
    """A message was malformed, unknown or too large; answered with ``pusher:error``.

    Args:
        message: the text of the ``pusher:error``.
        code: the Pusher error code, or ``None`` for Pusher's code-less errors.
        close: whether the connection must be closed after the error is sent.
    """

    def __init__(
        self, message: str, *, code: int | None = None, close: bool = False, hint: str = ""
    ) -> None:
        super().__init__(message, hint=hint)
        self.pusher_code = code
        self.close = close


class SubscriptionError(ProtocolError):
    """A subscription was refused; answered with ``pusher:subscription_error``.

    Args:
        message: the reason, shown to the client in ``data.error``.
        kind: Pusher's ``data.type`` (``AuthError``, ``LimitReached``, ``InvalidChannel``...).
        status: Pusher's ``data.status`` (an HTTP-like status: 401, 400, 4009...).
    """

    def __init__(self, message: str, *, kind: str = "AuthError", status: int = 401) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class ConnectionRejected(ProtocolError):
    """The connection is refused before or right after the handshake.

    The server sends ``pusher:error`` with ``code`` and closes with the same code.
    """

    def __init__(self, message: str, *, code: int, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.pusher_code = code


class AuthError(TidingsError):
    """A signature, key or token did not verify."""

    http_status = 401


class LimitError(TidingsError):
    """A documented limit was exceeded (payload size, channels per event, batch size...)."""

    def __init__(self, message: str, *, hint: str = "", http_status: int = 413) -> None:
        super().__init__(message, hint=hint)
        self.http_status = http_status


class RateLimitError(LimitError):
    """A per-app rate limit was exceeded: 429 with ``Retry-After: retry_after`` seconds."""

    def __init__(self, message: str, *, hint: str = "", retry_after: int = 1) -> None:
        super().__init__(message, hint=hint, http_status=429)
        self.retry_after = retry_after


class BrokerBufferFull(TidingsError):
    """The broker is unreachable and this node already holds all it may (HTTP 503).

    Args:
        retry_after: seconds a client should wait before retrying (``Retry-After``).
    """

    http_status = 503

    def __init__(self, message: str, *, hint: str = "", retry_after: int = 2) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class NotFoundError(TidingsError):
    """An app, channel or route does not exist."""

    http_status = 404


class ConflictError(TidingsError):
    """A write clashes with what exists: a duplicate id or key, or a read-only (config) app."""

    http_status = 409


class UnavailableError(TidingsError):
    """A store (the app database) cannot be reached; the caller may retry."""

    http_status = 503


class ConfigError(TidingsError):
    """The configuration is invalid; the CLI prints it and exits non-zero."""
