"""Logging set-up: formats, levels and what never reaches a log line."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog

from tidings.apps.base import App
from tidings.errors import ConfigError
from tidings.logs import configure_logging
from tidings.typing import AppId, AppKey


@pytest.fixture(autouse=True)
def _restore_logging() -> object:
    yield
    structlog.reset_defaults()
    logging.getLogger().handlers.clear()


def test_json_tracebacks_carry_no_local_variables() -> None:
    """A crash logged as JSON shows the frames but not their locals (secrets live there)."""
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    app_secret = "s3cr3t-never-logged"
    try:
        raise RuntimeError("boom " + str(len(app_secret)))
    except RuntimeError:
        structlog.get_logger("t").exception("request failed")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["event"] == "request failed"
    frames = line["exception"][0]["frames"]
    assert frames and all("locals" not in f or not f["locals"] for f in frames)
    assert "s3cr3t" not in out.getvalue()


@pytest.mark.parametrize("logger", ["structlog", "stdlib"])
def test_pretty_tracebacks_carry_no_local_variables(logger: str) -> None:
    """The pretty format (the default on a TTY) shows the frames but not their locals."""
    out = io.StringIO()
    configure_logging("info", "pretty", stream=out)
    secret = "-".join(["s3cr3t", "never", "logged"])  # built, so the source line does not hold it
    app = App(id=AppId("1"), key=AppKey("k"), secret=secret)
    try:
        raise RuntimeError(f"boom in app {app.id}")
    except RuntimeError:
        if logger == "structlog":
            structlog.get_logger("t").exception("request failed")
        else:  # aiohttp's "Error handling request" comes this way
            logging.getLogger("aiohttp.server").exception("Error handling request")
    text = out.getvalue()
    assert "boom in app 1" in text and "test_pretty_tracebacks" in text
    assert secret not in text


def test_stdlib_records_come_out_in_the_same_format() -> None:
    out = io.StringIO()
    configure_logging("warning", "json", stream=out)
    logging.getLogger("aiohttp.server").warning("from the stdlib")
    line = json.loads(out.getvalue().splitlines()[-1])
    assert line["event"] == "from the stdlib" and line["level"] == "warning"


@pytest.mark.parametrize(("level", "fmt"), [("loud", "json"), ("info", "xml")])
def test_unknown_level_or_format_is_a_config_error(level: str, fmt: str) -> None:
    with pytest.raises(ConfigError):
        configure_logging(level, fmt, stream=io.StringIO())
