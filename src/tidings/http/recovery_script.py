"""``GET /tidings/recovery.js``: the recovery helper for stock pusher-js, as an ES module.

Framework-free: :func:`recovery_script` returns the status, the content type and
the body; the main port's router serves it (no signature: it is public code).
The module itself (``static/recovery.js``) documents which pusher-js internals it
relies on; docs/history.md shows its use.
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["PATH", "recovery_script"]

#: Where the main port serves it.
PATH = "/tidings/recovery.js"


@functools.cache
def _body() -> bytes:
    return resources.files("tidings.http").joinpath("static/recovery.js").read_bytes()


def recovery_script() -> tuple[int, str, bytes]:
    """``(200, "text/javascript; charset=utf-8", the module's bytes)``."""
    return 200, "text/javascript; charset=utf-8", _body()
