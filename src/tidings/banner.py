"""The start-up banner and the paste-ready client snippets (`tidings snippet KIND`).

Snippets point clients at the address they can actually reach: ``public_url``
when set (a proxy in front), else the listener, with a wildcard bind
(``0.0.0.0`` / ``::``) shown as ``127.0.0.1``.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, replace
from urllib.parse import urlencode, urlsplit

from tidings import __version__
from tidings.apps.base import App
from tidings.config import DEFAULT_APP_SECRET, Settings
from tidings.errors import ConfigError
from tidings.protocol.signing import body_md5, sign_request

__all__ = ["SNIPPET_KINDS", "Endpoint", "endpoint_for", "render_banner", "snippet"]

SNIPPET_KINDS = ("js", "echo", "python", "curl", "env", "piesocket")
_WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")
_SAMPLE_CHANNEL = "my-channel"
_SAMPLE_EVENT = "my-event"
_SAMPLE_DATA = {"message": "hello"}
_RULE = "-" * 72


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client connects: host, port, TLS or not, and a path prefix (``""`` or ``/x``)."""

    host: str
    port: int
    tls: bool
    path: str = ""

    @property
    def http_base(self) -> str:
        """``http(s)://host:port/prefix`` for the HTTP API."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{self.path}"

    @property
    def ws_base(self) -> str:
        """``ws(s)://host:port/prefix`` for the WebSocket endpoints."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}{self.path}"


def _client_host(host: str) -> str:
    return "127.0.0.1" if host in _WILDCARD_HOSTS else host


def _from_url(url: str, fallback_path: str) -> Endpoint:
    parts = urlsplit(url)
    tls = parts.scheme in ("https", "wss")
    port = parts.port or (443 if tls else 80)
    path = parts.path.rstrip("/") or fallback_path
    return Endpoint(_client_host(parts.hostname or ""), port, tls, path)


def endpoint_for(settings: Settings, *, url: str | None = None) -> Endpoint:
    """The endpoint snippets should use.

    Args:
        settings: the effective settings.
        url: the listener's actual URL (the runner knows the bound port); used
            unless ``settings.public_url`` is set.
    """
    if settings.public_url:
        return _from_url(settings.public_url, settings.path_prefix)
    if url:
        return _from_url(url, settings.path_prefix)
    tls = settings.tls_cert is not None
    return Endpoint(_client_host(settings.http_host), settings.http_port, tls, settings.path_prefix)


def _q(value: str) -> str:
    """A single-quoted JS/Python string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _pusher_options(ep: Endpoint) -> list[str]:
    port = f"wssPort: {ep.port}" if ep.tls else f"wsPort: {ep.port}"
    lines = ["cluster: ''", f"wsHost: {_q(ep.host)}", port]
    if ep.path:
        lines.append(f"wsPath: {_q(ep.path)}")
    lines += [f"forceTLS: {'true' if ep.tls else 'false'}", "enabledTransports: ['ws', 'wss']"]
    return lines


def _js(app: App, ep: Endpoint) -> str:
    options = "".join(f"  {line},\n" for line in _pusher_options(ep))
    return (
        "// npm install pusher-js\n"
        "import Pusher from 'pusher-js';\n\n"
        f"const pusher = new Pusher({_q(app.key)}, {{\n{options}}});\n"
        f"pusher.subscribe({_q(_SAMPLE_CHANNEL)})"
        f".bind({_q(_SAMPLE_EVENT)}, (data) => console.log(data));"
    )


def _echo(app: App, ep: Endpoint) -> str:
    options = "".join(f"  {line},\n" for line in _pusher_options(ep))
    return (
        "// npm install laravel-echo pusher-js\n"
        "import Echo from 'laravel-echo';\n"
        "import Pusher from 'pusher-js';\n\n"
        "window.Pusher = Pusher;\n"
        "window.Echo = new Echo({\n"
        "  broadcaster: 'pusher',\n"
        f"  key: {_q(app.key)},\n{options}}});"
    )


def _python(app: App, ep: Endpoint) -> str:
    note = ""
    if ep.path:
        note = f"# the pusher SDK cannot add the {ep.path} prefix: put a proxy route in front\n"
    return (
        "# pip install pusher\n"
        f"{note}import pusher\n\n"
        f"client = pusher.Pusher(app_id={_q(app.id)}, key={_q(app.key)}, "
        f"secret={_q(app.secret)}, host={_q(ep.host)}, port={ep.port}, "
        f"ssl={'True' if ep.tls else 'False'})\n"
        f"client.trigger({_q(_SAMPLE_CHANNEL)}, {_q(_SAMPLE_EVENT)}, {_SAMPLE_DATA!r})"
    )


def _env(app: App, ep: Endpoint) -> str:
    scheme = "https" if ep.tls else "http"
    return "\n".join(
        [
            "# Laravel .env",
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
        {"name": _SAMPLE_EVENT, "channels": [_SAMPLE_CHANNEL], "data": json.dumps(_SAMPLE_DATA)},
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
    return (
        f"# signed for auth_timestamp={timestamp}: valid for 10 minutes (±600 s).\n"
        f"# For a fresh signature run: tidings trigger {_SAMPLE_CHANNEL} {_SAMPLE_EVENT} "
        f"{shlex.quote(json.dumps(_SAMPLE_DATA))}\n"
        f"curl -X POST -H 'Content-Type: application/json' \\\n"
        f"  --data {shlex.quote(body)} \\\n"
        f"  {shlex.quote(url)}"
    )


def _piesocket(app: App, ep: Endpoint) -> str:
    note = ""
    if not ep.tls:
        note = (
            "// piesocket-js always connects with wss://: start tidings with --tls-cert and\n"
            "// --tls-key (see docs/tls.md) or put a TLS proxy in front of it.\n"
        )
    return (
        "// npm install piesocket-js@5\n"
        f"{note}import PieSocket from 'piesocket-js';\n\n"
        "const piesocket = new PieSocket({\n"
        "  clusterId: 'local',\n"
        f"  clusterDomain: {_q(f'{ep.host}:{ep.port}')},\n"
        f"  apiKey: {_q(app.key)},\n"
        "});\n"
        f"piesocket.subscribe({_q(_SAMPLE_CHANNEL)}).then((channel) => {{\n"
        f"  channel.listen({_q(_SAMPLE_EVENT)}, (data, meta) => console.log(data, meta));\n"
        "});"
    )


def _render(kind: str, app: App, ep: Endpoint, now: float | None) -> str:
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
    return _render(kind, settings.app_list()[0], endpoint_for(settings, url=url), now)


def _masked(app: App) -> App:
    return replace(app, secret="<secret: run `tidings snippet env`>")


def render_banner(settings: Settings, *, ws_url: str, http_url: str, admin_url: str) -> str:
    """The text printed once the server listens.

    Args:
        settings: the effective settings.
        ws_url: base WebSocket URL of the bound listener (``ws://host:port``).
        http_url: base HTTP URL of the bound listener.
        admin_url: base URL of the admin listener (dashboard, metrics).

    Secrets are shown only on a loopback bind (a laptop); on a public bind they
    are masked so they do not end up in shared logs, and ``tidings snippet``
    prints them on demand.
    """
    apps = settings.app_list()
    # The stock secret is public knowledge; masking it would only hide the warning's point.
    hide = settings.is_public_bind and apps[0].secret != DEFAULT_APP_SECRET
    first = _masked(apps[0]) if hide else apps[0]
    ep = endpoint_for(settings, url=ws_url)
    prefix = settings.path_prefix
    ws_base = ws_url.rstrip("/")
    ws_base = ws_base if ws_base.endswith(prefix) else ws_base + prefix
    api_base = http_url.rstrip("/")
    api_base = api_base if api_base.endswith(prefix) else api_base + prefix
    lines = [
        f"tidings {__version__} is ready",
        "",
        f"  WebSocket  {ws_base}/app/{first.key}   (Pusher protocol 7)",
        f"  PieSocket  {ws_base}/v3/{_SAMPLE_CHANNEL}?api_key={first.key}",
        f"  HTTP API   {api_base}/apps/{first.id}",
        f"  Admin      {admin_url.rstrip('/')}/api/status   (Prometheus: /metrics)",
        "",
    ]
    label = "default app" if not settings.apps else "app"
    for app in [first] if hide else apps:
        lines.append(f"  {label:<11} id={app.id}  key={app.key}  secret={app.secret}")
    if len(apps) > 1:
        lines.append(f"  (+{len(apps) - 1} more: `tidings config show` lists them)")
    if settings.is_public_bind and settings.uses_default_credentials:
        lines += [
            "",
            f"  WARNING: listening on {settings.http_host} with the published default "
            "credentials (app-secret);",
            "  anyone can publish. Run `tidings init` for fresh ones or set "
            "TIDINGS_DEFAULT_APP_SECRET.",
        ]
    sections = [
        ("pusher-js", _js(first, ep)),
        ("Laravel .env", _env(first, ep)),
        ("Python (PyPI pusher)", _python(first, ep)),
    ]
    if hide:
        sections.append(
            ("curl (publish an event)", "run `tidings snippet curl` (it signs with the secret)")
        )
    else:
        sections.append(("curl (publish an event)", _curl(first, ep, None)))
    for title, body in sections:
        lines += ["", f"-- {title} {_RULE[: max(0, 68 - len(title))]}", body]
    return "\n".join(lines) + "\n"
