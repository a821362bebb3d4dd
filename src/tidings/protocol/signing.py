"""HMAC signatures: channel auth, user sign-in and the HTTP API request signature.

All functions are pure; comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

__all__ = [
    "body_md5",
    "channel_auth",
    "hmac_sha256_hex",
    "request_string_to_sign",
    "sign_request",
    "signatures_match",
    "user_auth",
]


def hmac_sha256_hex(secret: str, message: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``message`` under ``secret``."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def signatures_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())


def channel_auth(
    key: str, secret: str, socket_id: str, channel: str, channel_data: str | None = None
) -> str:
    """A subscribe's ``auth`` value: ``key:HMAC(secret, socket_id:channel[:data])``."""
    message = f"{socket_id}:{channel}"
    if channel_data is not None:
        message += f":{channel_data}"
    return f"{key}:{hmac_sha256_hex(secret, message)}"


def user_auth(key: str, secret: str, socket_id: str, user_data: str) -> str:
    """``pusher:signin``'s ``auth``: ``key:HMAC(secret, socket_id::user::user_data)``."""
    return f"{key}:{hmac_sha256_hex(secret, f'{socket_id}::user::{user_data}')}"


def body_md5(body: bytes) -> str:
    """Hex MD5 of a request body, as the HTTP API's ``body_md5`` parameter carries it."""
    return hashlib.md5(body).hexdigest()


def request_string_to_sign(method: str, path: str, params: Mapping[str, str]) -> str:
    """``METHOD\\nPATH\\nk1=v1&k2=v2`` with keys sorted and ``auth_signature`` left out.

    Keys are lower-cased as Pusher's SDKs do; values are used as received (not
    re-encoded), which is what every official SDK signs.
    """
    query = "&".join(
        f"{k.lower()}={params[k]}" for k in sorted(params, key=str.lower) if k != "auth_signature"
    )
    return f"{method.upper()}\n{path}\n{query}"


def sign_request(secret: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """The ``auth_signature`` of an HTTP API request."""
    return hmac_sha256_hex(secret, request_string_to_sign(method, path, params))
