"""Paste-ready client snippets (``tidings snippet KIND``) and the endpoint they name.

Snippets point clients at the address they can actually reach: ``public_url``
when set (a proxy in front), else the listener, with a wildcard bind
(``0.0.0.0`` / ``::``) shown as ``127.0.0.1``. A self-signed ``tls_cert`` is
what each snippet is told to trust (Node's extra CA file, curl's ``--cacert``,
the pusher SDK's backend, Guzzle's ``verify``). The start-up banner
(``tidings.banner``) shows some of them.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tidings.apps.base import App
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.protocol.signing import body_md5, sign_request
from tidings.tls import is_self_signed

__all__ = [
    "SAMPLE_CHANNEL",
    "SNIPPET_KINDS",
    "Endpoint",
    "client_host",
    "endpoint_for",
    "render_snippet",
    "snippet",
    "trigger_command",
]

SNIPPET_KINDS = ("js", "echo", "python", "curl", "env", "piesocket")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")
SAMPLE_CHANNEL = "my-channel"
_SAMPLE_EVENT = "my-event"
_SAMPLE_DATA = {"message": "hello"}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client connects: host, port, TLS or not, and a path prefix (``""`` or ``/x``)."""

    host: str
    port: int
    tls: bool
    path: str = ""
    #: The certificate clients must trust explicitly (a self-signed ``tls_cert``), absolute.
    cafile: Path | None = None

    @property
    def http_base(self) -> str:
        """``http(s)://host:port/prefix`` for the HTTP API."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"

    @property
    def ws_base(self) -> str:
        """``ws(s)://host:port/prefix`` for the WebSocket endpoints."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{self.path}"


def client_host(host: str) -> str:
    """The host a client connects to for a listener bound to ``host``."""
    return "127.0.0.1" if host in _WILDCARD_HOSTS else host


def _from_url(url: str, fallback_path: str) -> Endpoint:
    parts = urlsplit(url)
    tls = parts.scheme in ("https", "wss")
    port = parts.port or (443 if tls else 80)
    path = parts.path.rstrip("/") or fallback_path
    return Endpoint(client_host(parts.hostname or ""), port, tls, path)


def endpoint_for(settings: Settings, *, url: str | None = None) -> Endpoint:
    """The endpoint snippets should use.

    Args:
        settings: the effective settings.
        url: the listener's actual URL (the runner knows the bound port); used
            unless ``settings.public_url`` is set.
    """
    if settings.public_url:
        return _from_url(settings.public_url, settings.path_prefix)
    cert = settings.tls_cert
    cafile = cert.resolve() if cert is not None and is_self_signed(cert) else None
    if url:
        return replace(_from_url(url, settings.path_prefix), cafile=cafile)
    tls = cert is not None
    host = client_host(settings.http_host)
    return Endpoint(host, settings.http_port, tls, settings.path_prefix, cafile)


def _q(value: str) -> str:
    """A single-quoted JS/Python string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pusher_options(ep: Endpoint) -> str:
    """pusher-js's connection options for ``ep``, one ``  key: value,`` line each."""
    port = f"wssPort: {ep.port}" if ep.tls else f"wsPort: {ep.port}"
    lines = ["cluster: ''", f"wsHost: {_q(ep.host)}", port]
    if ep.path:
        lines.append(f"wsPath: {_q(ep.path)}")
    lines += [f"forceTLS: {'true' if ep.tls else 'false'}", "enabledTransports: ['ws', 'wss']"]
    return "".join(f"  {line},\n" for line in lines)


def _module_head(ep: Endpoint, packages: str, name: str) -> str:
    """The comment lines of an ES-module snippet saved as ``name``: what to install, how to
    run it."""
    if ep.cafile is None:
        run = f"// Node 20: save as {name}, run `node {name}`; or bundle it for a browser.\n"
    else:
        run = (
            f"// Node 20: save as {name}, run `NODE_EXTRA_CA_CERTS={ep.cafile} node {name}`.\n"
            "// A browser must trust that self-signed certificate first (docs/tls.md).\n"
        )
    return f"// npm install {packages}\n{run}"


def _js(app: App, ep: Endpoint) -> str:
    return (
        f"{_module_head(ep, 'pusher-js', 'pusher.mjs')}"
        "import Pusher from 'pusher-js';\n\n"
        f"const pusher = new Pusher({_q(app.key)}, {{\n{_pusher_options(ep)}}});\n"
        f"pusher.subscribe({_q(SAMPLE_CHANNEL)})"
        f".bind({_q(_SAMPLE_EVENT)}, (data) => console.log(data));"
    )


def _echo(app: App, ep: Endpoint) -> str:
    return (
        f"{_module_head(ep, 'laravel-echo pusher-js', 'echo.mjs')}"
        "// In a Laravel app (resources/js/echo.js): window.Echo = new Echo({...}).\n"
        "import Echo from 'laravel-echo';\n"
        "import Pusher from 'pusher-js';\n\n"
        "const echo = new Echo({\n"
        "  broadcaster: 'pusher',\n"
        "  Pusher,\n"
        f"  key: {_q(app.key)},\n{_pusher_options(ep)}}});\n"
        f"echo.channel({_q(SAMPLE_CHANNEL)})"
        f".listen({_q('.' + _SAMPLE_EVENT)}, (data) => console.log(data));"
    )


def _python(app: App, ep: Endpoint) -> str:
    note = ""
    if ep.path:
        note = f"# the pusher SDK cannot add the {ep.path} prefix: put a proxy route in front\n"
    trust, backend = "", ""
    if ep.tls and ep.cafile is not None:
        # pusher 3.x's RequestsBackend sets verify= to its bundled pusher/cacert.pem
        # after reading the options, so neither verify= nor REQUESTS_CA_BUNDLE reach
        # requests; a subclass that sets it afterwards does.
        trust = (
            "from pusher.requests import RequestsBackend\n\n\n"
            "class TrustServerCertificate(RequestsBackend):\n"
            "    # The SDK verifies TLS against its own bundled CA file only (not\n"
            "    # REQUESTS_CA_BUNDLE, not verify=): trust the server's self-signed certificate.\n"
            "    def __init__(self, client, **options):\n"
            "        super().__init__(client, **options)\n"
            f"        self.options['verify'] = {_q(str(ep.cafile))}\n\n\n"
        )
        backend = ", backend=TrustServerCertificate"
    return (
        "# pip install pusher\n"
        f"{note}import pusher\n{trust or chr(10)}"
        f"client = pusher.Pusher(app_id={_q(app.id)}, key={_q(app.key)}, "
        f"secret={_q(app.secret)}, host={_q(ep.host)}, port={ep.port}, "
        f"ssl={'True' if ep.tls else 'False'}{backend})\n"
        f"client.trigger({_q(SAMPLE_CHANNEL)}, {_q(_SAMPLE_EVENT)}, {_SAMPLE_DATA!r})"
    )


def _env(app: App, ep: Endpoint) -> str:
    scheme = "https" if ep.tls else "http"
    trust = []
    if ep.tls and ep.cafile is not None:
        # Laravel's Pusher driver sends through Guzzle, which takes its options from
        # the connection's client_options in config/broadcasting.php.
        trust = [
            "# The certificate is self-signed: in config/broadcasting.php, connections.pusher,",
            f"# set 'client_options' => ['verify' => '{ep.cafile}'].",
        ]
    return "\n".join(
        [
            "# Laravel .env",
            *trust,
            "BROADCAST_CONNECTION=pusher",
            f"PUSHER_APP_ID={app.id}",
            f"PUSHER_APP_KEY={app.key}",
            f"PUSHER_APP_SECRET={app.secret}",
            f"PUSHER_HOST={ep.host}",
            f"PUSHER_PORT={ep.port}",
            f"PUSHER_SCHEME={scheme}",
            "PUSHER_APP_CLUSTER=mt1",
            "",
            'VITE_PUSHER_APP_KEY="${PUSHER_APP_KEY}"',
            'VITE_PUSHER_HOST="${PUSHER_HOST}"',
            'VITE_PUSHER_PORT="${PUSHER_PORT}"',
            'VITE_PUSHER_SCHEME="${PUSHER_SCHEME}"',
            'VITE_PUSHER_APP_CLUSTER="${PUSHER_APP_CLUSTER}"',
        ]
    )


def _curl(app: App, ep: Endpoint, now: float | None) -> str:
    timestamp = int(time.time() if now is None else now)
    body = json.dumps(
        {"name": _SAMPLE_EVENT, "channels": [SAMPLE_CHANNEL], "data": json.dumps(_SAMPLE_DATA)},
        separators=(",", ":"),
    )
    path = f"{ep.path}/apps/{app.id}/events"
    params = {
        "auth_key": app.key,
        "auth_timestamp": str(timestamp),
        "auth_version": "1.0",
        "body_md5": body_md5(body.encode()),
    }
    params["auth_signature"] = sign_request(app.secret, "POST", path, params)
    url = f"{ep.http_base.removesuffix(ep.path)}{path}?{urlencode(params)}"
    cacert = f"--cacert {shlex.quote(str(ep.cafile))} " if ep.tls and ep.cafile else ""
    return (
        f"# Signed at auth_timestamp={timestamp}: the server accepts it for 10 minutes.\n"
        "# After that (401: auth_timestamp ... away from the server's clock) re-run\n"
        "# `tidings snippet curl` for a freshly signed command, or publish with:\n"
        f"#   {trigger_command(ep)}\n"
        f"curl {cacert}-X POST -H 'Content-Type: application/json' \\\n"
        f"  --data {shlex.quote(body)} \\\n"
        f"  {shlex.quote(url)}"
    )


def trigger_command(ep: Endpoint) -> str:
    """A ``tidings trigger`` command line that reaches ``ep`` from another shell.

    ``--url`` is left out only for the default listener, which ``tidings trigger``
    assumes; ``--cacert`` is added for a self-signed certificate.
    """
    parts = ["tidings", "trigger", SAMPLE_CHANNEL, _SAMPLE_EVENT, json.dumps(_SAMPLE_DATA)]
    if ep.http_base != "http://127.0.0.1:6001":
        parts += ["--url", ep.http_base]
    if ep.tls and ep.cafile is not None:
        parts += ["--cacert", str(ep.cafile)]
    return shlex.join(parts)


def _piesocket(app: App, ep: Endpoint) -> str:
    note = ""
    if not ep.tls:
        note = (
            "// piesocket-js always connects with wss://: start tidings with --tls-cert and\n"
            "// --tls-key (see docs/tls.md) or put a TLS proxy in front of it.\n"
        )
    return (
        f"{_module_head(ep, 'piesocket-js@5 ws', 'piesocket.mjs')}{note}"
        "// piesocket-js uses the global WebSocket, which Node 20 lacks: `ws` stands in,\n"
        "// set before piesocket-js loads. In a browser delete the two `ws` lines.\n"
        "import { WebSocket } from 'ws';\n\n"
        "globalThis.WebSocket ??= WebSocket;\n"
        "const { default: PieSocket } = await import('piesocket-js');\n\n"
        "const piesocket = new PieSocket({\n"
        "  clusterId: 'local',\n"
        f"  clusterDomain: {_q(f'{ep.host}:{ep.port}')},\n"
        f"  apiKey: {_q(app.key)},\n"
        "});\n"
        f"piesocket.subscribe({_q(SAMPLE_CHANNEL)}).then((channel) => {{\n"
        f"  channel.listen({_q(_SAMPLE_EVENT)}, (data, meta) => console.log(data, meta));\n"
        "});"
    )


def render_snippet(kind: str, app: App, ep: Endpoint, now: float | None) -> str:
    """The ``kind`` snippet for ``app`` at ``ep`` (see :func:`snippet`).

    Raises:
        ConfigError: an unknown ``kind``.
    """
    if kind == "js":
        return _js(app, ep)
    if kind == "echo":
        return _echo(app, ep)
    if kind == "python":
        return _python(app, ep)
    if kind == "env":
        return _env(app, ep)
    if kind == "curl":
        return _curl(app, ep, now)
    if kind == "piesocket":
        return _piesocket(app, ep)
    raise ConfigError(
        f"unknown snippet kind {kind!r}", hint=f"use one of {', '.join(SNIPPET_KINDS)}"
    )


def snippet(
    kind: str, settings: Settings, *, url: str | None = None, now: float | None = None
) -> str:
    """Client configuration for the first configured app, ready to paste.

    Args:
        kind: ``js`` (pusher-js), ``echo`` (Laravel Echo), ``python`` (PyPI
            ``pusher``), ``curl`` (a signed HTTP API publish) or ``env`` (Laravel
            ``.env``), ``piesocket`` (piesocket-js 5).
        settings: the effective settings; the first app of ``app_list()`` is used.
        url: the listener's actual URL, when known (see :func:`endpoint_for`).
        now: Unix time to sign the ``curl`` request at (default: the clock).

    Raises:
        ConfigError: an unknown ``kind``.
    """
    return render_snippet(kind, settings.app_list()[0], endpoint_for(settings, url=url), now)
