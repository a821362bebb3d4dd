"""Logging set-up: structlog in front, the stdlib (aiohttp's loggers) routed through it."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog
import structlog.tracebacks

from tidings.errors import ConfigError

__all__ = ["configure_logging"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_FORMATS = ("auto", "pretty", "json")


def configure_logging(level: str, fmt: str, *, stream: TextIO | None = None) -> None:
    """Send every log line, structlog's and the stdlib's, to ``stream`` in one format.

    Args:
        level: ``debug``, ``info``, ``warning``, ``error`` or ``critical``.
        fmt: ``pretty`` (coloured console lines), ``json`` (one JSON object per
            line) or ``auto``: pretty when ``stream`` is a TTY, JSON otherwise.
        stream: where lines go; ``sys.stderr`` by default.

    Raises:
        ConfigError: an unknown level or format.

    Calling it again replaces the previous set-up. ``aiohttp.access`` (one line
    per HTTP request) is held at WARNING unless ``level`` is ``debug``.
    """
    level_no = _LEVELS.get(level.lower())
    if level_no is None:
        raise ConfigError(f"unknown log level {level!r}", hint="use debug, info, warning or error")
    if fmt not in _FORMATS:
        raise ConfigError(f"unknown log format {fmt!r}", hint="use auto, pretty or json")
    out = stream if stream is not None else sys.stderr
    pretty = fmt == "pretty" or (fmt == "auto" and out.isatty())

    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor
    if pretty:
        renderer = structlog.dev.ConsoleRenderer(
            colors=out.isatty(), exception_formatter=_traceback_without_locals(out.isatty())
        )
    else:
        # No locals in tracebacks, in any format: they would print app secrets into logs.
        shared.append(
            structlog.processors.ExceptionRenderer(
                structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
            )
        )
        renderer = structlog.processors.JSONRenderer()

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: a second configure_logging() must reach loggers made earlier.
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level_no)
    access_level = logging.DEBUG if level_no <= logging.DEBUG else logging.WARNING
    logging.getLogger("aiohttp.access").setLevel(access_level)


def _traceback_without_locals(colors: bool) -> structlog.typing.ExceptionRenderer:
    """Rich's traceback (when rich is installed) with ``show_locals`` off, else the plain one.

    structlog's default shows every frame's locals, ``App(secret=...)`` and request
    parameters included; ``better_exceptions`` would too, so it is never picked.
    """
    try:
        import rich  # noqa: F401
    except ImportError:
        return structlog.dev.plain_traceback
    return structlog.dev.RichTracebackFormatter(
        color_system="truecolor" if colors else None, show_locals=False
    )
