"""The probes' pure parts: result lines (the diagnoses are in test_diagnosis.py)."""

from __future__ import annotations

from tidings.probe.result import Result, Status, render
from tidings.probe.wire import Target


def test_results_render_aligned_with_the_fix_last() -> None:
    """One line per result: status, padded name, detail, then `; fix: ...` when there is one."""
    lines = render(
        [Result("api", Status.OK, "200"), Result("round-trip", Status.FAIL, "lost", "read the log")]
    )
    assert lines == ["ok    api         200", "FAIL  round-trip  lost; fix: read the log"]


def test_target_derives_ws_url_and_default_ports() -> None:
    """wss for https, the scheme's port when the URL has none."""
    tls = Target("https://rt.example.com/realtime", "1", "k", "s")
    assert tls.ws_url == "wss://rt.example.com/realtime"
    assert tls.host_port == ("rt.example.com", 443)
    assert Target("http://127.0.0.1:6001", "1", "k", "s").host_port == ("127.0.0.1", 6001)
