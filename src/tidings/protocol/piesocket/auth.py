"""PieSocket v3 channel tokens: HS256 JWTs signed with the app secret.

Claims: ``sub`` (required) is the channel id the token admits to; ``exp``, ``nbf`` and
``iat`` are checked against ``now`` when present (``nbf`` and ``iat`` with 60 s of clock
leeway); ``user`` (optional) is the presence user id, the only one accepted on guarded
channels. Any failure is PieSocket's single message, so a
client learns nothing about which check failed (the server log says).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from tidings.errors import AuthError

__all__ = ["AUTH_FAILED", "TokenClaims", "make_token", "verify_token"]

AUTH_FAILED = "Authentication failed, provide valid jwt token."
_CLOCK_SKEW_S = 60  # an ``iat`` or ``nbf`` this far in the future is still accepted


@contextmanager
def _any_key_length() -> Iterator[None]:
    # The key is the app secret, chosen by the operator; PyJWT would warn on every
    # connection of an app with a short one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        yield


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a verified token grants: its channel and, optionally, a user id."""

    channel: str
    user: str | None


def verify_token(token: str, *, secret: str, channel: str, now: float) -> TokenClaims:
    """Verify ``token`` for ``channel`` at time ``now`` (Unix seconds).

    Raises:
        AuthError: with message :data:`AUTH_FAILED` and the precise reason as ``hint``.
    """
    try:
        with _any_key_length():
            claims: dict[str, Any] = jwt.decode(
                token,
                secret,
                algorithms=["HS256"],
                # Time claims are checked below against ``now``: this module has no clock.
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
            )
    except jwt.InvalidTokenError as exc:
        raise AuthError(AUTH_FAILED, hint=f"token rejected: {exc}") from None
    if claims.get("sub") != channel:
        raise AuthError(AUTH_FAILED, hint=f"token sub {claims.get('sub')!r} is not {channel!r}")
    exp = claims.get("exp")
    if exp is not None and (not isinstance(exp, int | float) or now >= exp):
        raise AuthError(AUTH_FAILED, hint="token expired (exp)")
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, int | float) or nbf > now + _CLOCK_SKEW_S):
        raise AuthError(AUTH_FAILED, hint="token not valid yet (nbf)")
    iat = claims.get("iat")
    if iat is not None and (not isinstance(iat, int | float) or iat > now + _CLOCK_SKEW_S):
        raise AuthError(AUTH_FAILED, hint="token issued in the future (iat)")
    user = claims.get("user")
    if user is not None and not isinstance(user, str | int):
        raise AuthError(AUTH_FAILED, hint="claim 'user' must be a string")
    return TokenClaims(channel, str(user) if user is not None else None)


def make_token(
    *, secret: str, channel: str, now: float, ttl_s: int = 3600, user: str | None = None
) -> str:
    """A token :func:`verify_token` accepts: what an app backend issues to its users."""
    claims: dict[str, Any] = {"sub": channel, "iat": int(now), "exp": int(now) + ttl_s}
    if user is not None:
        claims["user"] = user
    with _any_key_length():
        return jwt.encode(claims, secret, algorithm="HS256")
