"""Diagnoses of tidings doctor: clock skew from a Date header, TLS fixes."""

from __future__ import annotations

import time
from email.utils import formatdate

from tidings.probe.diagnosis import clock_skew, tls_fix
from tidings.probe.wire import HttpReply


def reply_dated(seconds_ago: float) -> HttpReply:
    date = formatdate(time.time() - seconds_ago, usegmt=True)
    return HttpReply(200, {}, "{}", {"Date": date}, elapsed_ms=2.0)


def test_skew_is_local_minus_server_time() -> None:
    """A server clock 700 s behind shows as about +700 s; no Date header: unknown."""
    skew = clock_skew(reply_dated(700))
    assert skew is not None and 698 <= skew <= 702
    assert clock_skew(HttpReply(200, {}, "{}", {}, 1.0)) is None
    assert clock_skew(HttpReply(200, {}, "{}", {"Date": "yesterday"}, 1.0)) is None


def test_tls_fix_follows_the_verification_error() -> None:
    """Self-signed, expired and wrong-name certificates each get their own fix."""
    assert "--cacert" in tls_fix("self-signed certificate", "h")
    assert "renew" in tls_fix("certificate has expired", "h")
    assert "must name example.com" in tls_fix("IP address mismatch", "example.com")
