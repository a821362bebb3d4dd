"""What ``tidings doctor`` saw, in words: why a check failed and the fix to try first.

Pure functions of what a check got back (an exception, a frame, a reply and its
``Date`` header, a ``/ready`` body); nothing here does I/O. Each fix names the
one thing most likely to help, from the most specific sign in what was seen.
"""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

from tidings.probe.wire import HttpReply

__all__ = [
    "SKEW_LIMIT_S",
    "api_fix",
    "clock_skew",
    "failure_reason",
    "refusal_text",
    "shards_named",
    "tls_fix",
]

#: The HTTP API refuses an ``auth_timestamp`` further away than this (seconds).
SKEW_LIMIT_S = 600


def failure_reason(exc: BaseException) -> str:
    """Why a connection failed, in words (asyncio's own text repeats the address)."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    return getattr(exc, "strerror", None) or str(exc)


def refusal_text(message: dict[str, Any] | None) -> str:
    """A subscribe's refusal as text: the server's error and status, not the whole frame."""
    if message is None:
        return "no reply"
    data = message.get("data")
    if isinstance(data, dict) and data.get("error"):
        status = f" (status {data['status']})" if data.get("status") else ""
        return f"{message.get('event')}: {data['error']}{status}"
    return str(message)[:300]


def tls_fix(reason: str, host: str) -> str:
    """The fix for a TLS verification error ``reason`` of a connection to ``host``."""
    if "self-signed" in reason or "unable to get local issuer" in reason:
        return "pass the server's certificate: --cacert cert.pem"
    if "expired" in reason:
        return "renew the certificate, then restart the server"
    if "mismatch" in reason or "hostname" in reason.lower():
        return f"the certificate must name {host} (subjectAltName), or use the host it names"
    return "check the certificate chain the server sends (openssl s_client -connect HOST:PORT)"


def clock_skew(reply: HttpReply) -> float | None:
    """Local clock minus the server's, from its ``Date`` header (1 s resolution)."""
    date = reply.headers.get("Date")
    if not date:
        return None
    try:
        server = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError):
        return None
    # The header was written during the request: compare with its midpoint.
    return time.time() - reply.elapsed_ms / 2000 - server


def api_fix(status: int, error: dict[str, Any], skew: float | None) -> str:
    """The fix for a signed request refused with ``status`` and ``error`` (JSON)."""
    hint = str(error.get("hint") or "")
    if status == 401 and skew is not None and abs(skew) > SKEW_LIMIT_S:
        return "sync this machine's clock (NTP)"
    if status == 401:
        return f"check --key and --secret ({hint})" if hint else "check --key and --secret"
    if status == 404:
        return f"check --app-id ({hint})" if hint else "check --app-id and the URL"
    return hint or "read the server's log"


def shards_named(body: object) -> str:
    """The Redis shards a /ready or /health answer says are down, with why, or ``""``."""
    down = body.get("shards_down") if isinstance(body, dict) else None
    if not isinstance(down, list):
        return ""
    items = [item for item in down if isinstance(item, dict)]
    return "; ".join(f"{item.get('shard', '?')}: {item.get('reason', '?')}" for item in items)
