"""Which app and URL a client uses when built from tidings' own settings."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import TYPE_CHECKING

from tidings.apps.base import App
from tidings.client.errors import ClientError, ServerUnreachable

if TYPE_CHECKING:
    from tidings.config import Settings

__all__ = ["default_cafile", "server_url", "settings_app", "tls_context", "unreachable"]


def settings_app(settings: Settings, app_id: str | None = None) -> App:
    """The configured app with ``app_id``, or the first one.

    Raises:
        ClientError: no configured app has that id (the hint lists them).
    """
    apps = settings.app_list()
    if app_id is None:
        return apps[0]
    for app in apps:
        if app.id == app_id:
            return app
    known = ", ".join(a.id for a in apps)
    raise ClientError(f"no app {app_id!r} in the configuration", hint=f"known app ids: {known}")


def server_url(settings: Settings) -> str:
    """The HTTP API base URL: ``public_url`` (+ ``path_prefix``), else the listener's address."""
    if settings.public_url:
        url = settings.public_url.replace("ws://", "http://", 1).replace("wss://", "https://", 1)
        prefix = settings.path_prefix
        return url if not prefix or url.endswith(prefix) else url + prefix
    host = settings.http_host
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    host = f"[{host}]" if ":" in host else host
    scheme = "https" if settings.tls_cert else "http"
    return f"{scheme}://{host}:{settings.http_port}"


def default_cafile(settings: Settings, url: str | None) -> Path | None:
    """The server's own certificate, when a client of it must trust that file.

    That is when the client talks to the configured listener itself (no ``url``
    and no ``public_url`` given) and its certificate is self-signed.
    """
    from tidings.tls import is_self_signed

    cert = settings.tls_cert
    if url is not None or settings.public_url or cert is None or not is_self_signed(cert):
        return None
    return cert


def tls_context(cafile: str | Path | None) -> ssl.SSLContext | None:
    """A client context trusting ``cafile`` only, or ``None`` for the system's trust store.

    Raises:
        ClientError: ``cafile`` cannot be read as PEM certificates.
    """
    if cafile is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(cafile))
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(
            f"cannot use {str(cafile)!r} as a CA file: {getattr(exc, 'strerror', None) or exc}",
            hint="give the server's PEM certificate (the file passed to --tls-cert)",
        ) from None


def unreachable(url: str, reason: object) -> ServerUnreachable:
    """The error for a request that got no HTTP answer, with the fix for its cause."""
    if isinstance(reason, ssl.SSLCertVerificationError):
        return ServerUnreachable(
            f"cannot reach {url}: its TLS certificate is not trusted ({reason.verify_message})",
            hint=(
                "pass the server's certificate: --cacert cert.pem (tidings trigger/channels), "
                "cafile= (tidings.client), or SSL_CERT_FILE=cert.pem"
            ),
        )
    return ServerUnreachable(
        f"cannot reach {url}: {reason}",
        hint="is `tidings serve` running, and is the URL right?",
    )
