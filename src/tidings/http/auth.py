"""The HTTP API request signature check (Pusher's ``auth_*`` query parameters)."""

from __future__ import annotations

from collections.abc import Mapping

from tidings.apps.base import App
from tidings.errors import AuthError, echoed
from tidings.protocol.signing import (
    body_md5,
    request_string_to_sign,
    sign_request,
    signatures_match,
)

__all__ = ["MAX_CLOCK_SKEW", "verify_request"]

MAX_CLOCK_SKEW = 600  # seconds either side of the server's clock, as Pusher allows
_MAX_DIGITS = 12  # Unix seconds have 10 digits until the year 2286


def verify_request(
    app: App,
    *,
    method: str,
    paths: tuple[str, ...],
    params: Mapping[str, str],
    body: bytes,
    now: float,
) -> None:
    """Check a signed HTTP API request.

    Args:
        paths: the request path, plus alternatives a proxy may have rewritten
            (the path with ``path_prefix`` prepended); any one may match.
        now: the server's clock, in seconds since the epoch.

    Raises:
        AuthError: naming the parameter that failed; for a bad signature the
            hint shows the string the server signed (never the secret).
    """
    key = params.get("auth_key")
    if key is None:
        raise AuthError("auth_key is missing", hint="sign the request with your app key")
    if key != app.key:
        raise AuthError(
            f"auth_key {echoed(key)!r} is not the key of app {app.id}",
            hint="use the key and secret of the app in the URL",
        )
    if params.get("auth_version") != "1.0":
        raise AuthError("auth_version must be 1.0", hint="add auth_version=1.0 to the query")
    timestamp = params.get("auth_timestamp", "")
    # Digits only, and few of them: int() takes "١٢" or 4000 digits, and a huge
    # one overflows the float subtraction below.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= _MAX_DIGITS):
        raise AuthError(
            "auth_timestamp is missing or not an integer",
            hint="send the current Unix time in seconds as auth_timestamp",
        )
    skew = abs(now - int(timestamp))
    if skew > MAX_CLOCK_SKEW:
        raise AuthError(
            f"auth_timestamp is {int(skew)} s away from the server's clock "
            f"(more than {MAX_CLOCK_SKEW} s)",
            hint="sync the publisher's clock (NTP) or check the timestamp is in seconds",
        )
    if body:
        given_md5 = params.get("body_md5")
        if given_md5 is None:
            raise AuthError("body_md5 is missing", hint="send the hex MD5 of the body as body_md5")
        if not signatures_match(body_md5(body), given_md5):
            raise AuthError(
                "body_md5 does not match the body received",
                hint="compute body_md5 over the exact bytes sent (a proxy may have changed them)",
            )
    signature = params.get("auth_signature")
    if signature is None:
        raise AuthError("auth_signature is missing", hint="sign the request with your app secret")
    for secret in app.secrets:  # two during a rotation's grace period
        for path in paths:
            if signatures_match(sign_request(secret, method, path, params), signature):
                return
    signed = request_string_to_sign(method, paths[0], params)
    raise AuthError(
        "Invalid signature: the auth_signature does not match",
        hint=(
            f"the server signed {signed!r} with the app secret; check the secret, "
            "the path (a proxy prefix?) and that the query is signed as sent"
        ),
    )
