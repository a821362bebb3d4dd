"""The probes' pure parts: result lines, clock skew from a Date header, TLS fixes."""

from __future__ import annotations

import time
from email.utils import formatdate

from tidings.probe.doctor import _skew, _tls_fix
from tidings.probe.result import Result, Status, render
from tidings.probe.wire import HttpReply, Target


def reply_dated(seconds_ago: float) -> HttpReply:
    date = formatdate(time.time() - seconds_ago, usegmt=True)
    return HttpReply(200, {}, "{}", {"Date": date}, elapsed_ms=2.0)


def test_skew_is_local_minus_server_time() -> None:
    """A server clock 700 s behind shows as about +700 s; no Date header: unknown."""
    skew = _skew(reply_dated(700))
    assert skew is not None and 698 <= skew <= 702
    assert _skew(HttpReply(200, {}, "{}", {}, 1.0)) is None
    assert _skew(HttpReply(200, {}, "{}", {"Date": "yesterday"}, 1.0)) is None


def test_results_render_aligned_with_the_fix_last() -> None:
    """One line per result: status, padded name, detail, then `; fix: ...` when there is one."""
    lines = render(
        [Result("api", Status.OK, "200"), Result("round-trip", Status.FAIL, "lost", "read the log")]
    )
    assert lines == ["ok    api         200", "FAIL  round-trip  lost; fix: read the log"]


def test_tls_fix_follows_the_verification_error() -> None:
    """Self-signed, expired and wrong-name certificates each get their own fix."""
    assert "--cacert" in _tls_fix("self-signed certificate", "h")
    assert "renew" in _tls_fix("certificate has expired", "h")
    assert "must name example.com" in _tls_fix("IP address mismatch", "example.com")


def test_target_derives_ws_url_and_default_ports() -> None:
    """wss for https, the scheme's port when the URL has none."""
    tls = Target("https://rt.example.com/realtime", "1", "k", "s")
    assert tls.ws_url == "wss://rt.example.com/realtime"
    assert tls.host_port == ("rt.example.com", 443)
    assert Target("http://127.0.0.1:6001", "1", "k", "s").host_port == ("127.0.0.1", 6001)
