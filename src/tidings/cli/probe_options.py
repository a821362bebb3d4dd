"""What ``tidings doctor`` and ``tidings conformance`` share: the target's URL and app,
from flags or the configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tidings.cli.common import fail, load_settings, user_errors
from tidings.client._target import default_cafile, server_url, settings_app, tls_context
from tidings.probe.wire import Target

__all__ = ["AppIdOption", "KeyOption", "SecretOption", "TimeoutOption", "resolve_target"]

AppIdOption = Annotated[
    str | None, typer.Option("--app-id", help="App id (default: the first configured app's).")
]
KeyOption = Annotated[str | None, typer.Option("--key", help="App key (default: from config).")]
SecretOption = Annotated[
    str | None, typer.Option("--secret", help="App secret (default: from config).")
]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="Seconds each reply may take.", min=0.1, max=120)
]


def resolve_target(
    url: str | None,
    app_id: str | None,
    key: str | None,
    secret: str | None,
    cacert: Path | None,
    config: Path | None,
    timeout: float,
    *,
    need_url: bool = False,
) -> Target:
    """The server and app to probe: flags first, then the configuration (as ``trigger`` does).

    With ``--key`` and ``--secret`` both given the configuration's apps are not consulted
    (the app id defaults to ``1``); otherwise the configured app with ``--app-id`` (or the
    first) supplies what is missing.
    """
    if need_url and url is None:
        fail("give the server's URL", hint="e.g. http://127.0.0.1:6001", code=2)
    if url is not None and not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:6001", code=2)
    if cacert is not None and not cacert.is_file():
        fail(f"--cacert {cacert}: no such file", hint="give the server's PEM certificate")
    settings = load_settings(config)
    if key is not None and secret is not None:
        chosen_id, chosen_key, chosen_secret = app_id or "1", key, secret
    else:
        with user_errors():
            app = settings_app(settings, app_id)
        chosen_id, chosen_key, chosen_secret = app.id, key or app.key, secret or app.secret
    cafile = cacert or default_cafile(settings, url)
    with user_errors():
        tls = tls_context(cafile)
    base = (url or server_url(settings)).rstrip("/")
    return Target(base, chosen_id, chosen_key, chosen_secret, tls, timeout)
