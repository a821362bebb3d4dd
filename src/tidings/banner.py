"""The start-up banner: where the server listens, the apps, and a few client snippets.

Secrets are masked unless the banner goes to a terminal on a loopback bind
(:func:`tidings.security.banner_shows_secrets`); the snippets come from
:mod:`tidings.snippets`, which ``tidings snippet KIND`` prints in full.
"""

from __future__ import annotations

from dataclasses import replace
from urllib.parse import urlsplit

from tidings.apps.base import App
from tidings.config import DEFAULT_APP_SECRET, Settings
from tidings.security import banner_shows_secrets
from tidings.snippets import SAMPLE_CHANNEL, client_host, endpoint_for, render_snippet
from tidings.version import __version__

__all__ = ["render_banner"]

_RULE = "-" * 72


def _masked(app: App) -> App:
    return replace(app, secret="<secret: run `tidings snippet env`>")


def _masked_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":****@", 1)


def _broker_down(settings: Settings) -> list[str]:
    """The banner's first lines when the broker (Redis) did not answer at start-up."""
    url = _masked_url(settings.broker_url)
    parts = urlsplit(settings.broker_url)
    port = parts.port or 6379
    if client_host(parts.hostname or "") in ("127.0.0.1", "localhost", "::1"):
        start = (
            f"start one: redis-server --port {port} (Debian/Ubuntu: apt-get install redis-server)"
        )
    else:
        start = f"check that Redis runs on {parts.hostname}:{port} and that this host can reach it"
    return [
        f"tidings {__version__} is running but NOT ready: Redis at {url} is unreachable",
        "  /ready answers 503 and events reach only this node's clients until Redis answers;",
        f"  {start},",
        "  or fix --broker / TIDINGS_BROKER_URL. tidings keeps retrying in the background.",
    ]


def render_banner(
    settings: Settings,
    *,
    ws_url: str,
    http_url: str,
    admin_url: str | None,
    broker_healthy: bool = True,
    show_secrets: bool | None = None,
) -> str:
    """The text printed once the server listens.

    Args:
        settings: the effective settings.
        ws_url: base WebSocket URL of the bound listener (``ws://host:port``).
        http_url: base HTTP URL of the bound listener.
        admin_url: base URL of the admin listener (metrics, admin API), or ``None``
            when it could not start (its port is taken).
        broker_healthy: whether the broker answered at start-up.
        show_secrets: print app secrets; by default only to a terminal on a loopback
            bind (:func:`tidings.security.banner_shows_secrets`). Otherwise they are
            masked so they do not end up in journald or shared logs, and
            ``tidings snippet`` prints them on demand.
    """
    apps = settings.app_list()
    # The stock secret is public knowledge; masking it would only hide the warning's point.
    if show_secrets is None:
        show_secrets = banner_shows_secrets(settings)
    hide = not show_secrets and any(app.secret != DEFAULT_APP_SECRET for app in apps)
    first = _masked(apps[0]) if hide and apps[0].secret != DEFAULT_APP_SECRET else apps[0]
    ep = endpoint_for(settings, url=ws_url)
    prefix = settings.path_prefix
    ws_base = ws_url.rstrip("/")
    ws_base = ws_base if ws_base.endswith(prefix) else ws_base + prefix
    api_base = http_url.rstrip("/")
    api_base = api_base if api_base.endswith(prefix) else api_base + prefix
    if admin_url is None:
        admin = (
            f"not started: {settings.admin_host}:{settings.admin_port} is taken "
            "(another port: --admin-port N or TIDINGS_ADMIN_PORT)"
        )
    else:
        admin = f"{admin_url.rstrip('/')}/   (dashboard; Prometheus: /metrics)"
    header = [f"tidings {__version__} is ready"] if broker_healthy else _broker_down(settings)
    lines = [
        *header,
        "",
        f"  WebSocket  {ws_base}/app/{first.key}   (Pusher protocol 7)",
        f"  PieSocket  {ws_base}/v3/{SAMPLE_CHANNEL}?api_key={first.key}",
        f"  HTTP API   {api_base}/apps/{first.id}",
        f"  Admin      {admin}",
    ]
    if admin_url is not None and settings.admin_password:
        # Where the password is, never the password: the banner often ends up in logs.
        lines.append(
            "             sign in with any user name and the admin password you set "
            "(admin_password)"
        )
    lines.append("")
    label = "default app" if not settings.apps else "app"
    for app in [first] if hide else apps:
        lines.append(f"  {label:<11} id={app.id}  key={app.key}  secret={app.secret}")
    if hide and len(apps) > 1:
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
        ("pusher-js", render_snippet("js", first, ep, None)),
        ("Laravel .env", render_snippet("env", first, ep, None)),
        ("Python (PyPI pusher)", render_snippet("python", first, ep, None)),
    ]
    if hide:
        sections.append(
            ("curl (publish an event)", "run `tidings snippet curl` (it signs with the secret)")
        )
    else:
        sections.append(("curl (publish an event)", render_snippet("curl", first, ep, None)))
    for title, body in sections:
        lines += ["", f"-- {title} {_RULE[: max(0, 68 - len(title))]}", body]
    return "\n".join(lines) + "\n"
