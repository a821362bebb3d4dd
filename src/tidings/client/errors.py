"""Errors raised by :mod:`tidings.client`.

::

    ClientError                 (a TidingsError: ``message`` and ``hint``)
    ├── AuthenticationError     401: key, secret, timestamp or signature refused
    ├── ForbiddenError          403: the app is disabled
    ├── NotFoundError           404: unknown app id or endpoint
    ├── RequestError            400 / 413 / 429: a parameter, limit or rate was refused
    ├── ServerError             5xx, or a reply that is not the API's JSON
    └── ServerUnreachable       no HTTP answer at all (refused, timeout, DNS)
"""

from __future__ import annotations

from tidings.errors import TidingsError

__all__ = [
    "AuthenticationError",
    "ClientError",
    "ForbiddenError",
    "NotFoundError",
    "RequestError",
    "ServerError",
    "ServerUnreachable",
    "error_for_status",
]


class ClientError(TidingsError):
    """A call to the HTTP API failed. ``str()`` shows the server's error and hint.

    Attributes:
        status: the HTTP status, or ``None`` when no answer came.
    """

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status

    def __str__(self) -> str:
        prefix = f"HTTP {self.status}: " if self.status is not None else ""
        return prefix + self.message + (f" ({self.hint})" if self.hint else "")


class AuthenticationError(ClientError):
    """401: the server refused the request signature; the hint says which part failed."""


class ForbiddenError(ClientError):
    """403: the app is disabled."""


class NotFoundError(ClientError):
    """404: unknown app id or endpoint."""


class RequestError(ClientError):
    """400, 413 or 429: a bad parameter, an exceeded limit or rate limit."""


class ServerError(ClientError):
    """5xx, or an answer that is not the API's JSON."""


class ServerUnreachable(ClientError):
    """The server did not answer (connection refused, timeout, DNS failure)."""


def error_for_status(status: int, message: str, hint: str) -> ClientError:
    """The :class:`ClientError` subclass for an HTTP error ``status``."""
    cls: type[ClientError]
    if status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = ForbiddenError
    elif status == 404:
        cls = NotFoundError
    elif 400 <= status < 500:
        cls = RequestError
    else:
        cls = ServerError
    return cls(message, hint=hint, status=status)
