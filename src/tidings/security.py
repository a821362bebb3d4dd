"""Start-up decisions about exposure: what may listen where, and what the banner may show.

The threat model and the deployment checklist are in docs/security.md. Two rules live
here so the CLI, the runner and the banner share them:

- the admin listener (metrics, status, and later the admin API) answers anyone who can
  reach it unless ``admin_password`` is set, so it may leave loopback only with one;
- the banner prints app secrets only to a person: stdout is a terminal and the main
  listener is on loopback. Under systemd, Docker or a proxy, stdout is a pipe into
  journald or a log shipper, and a secret printed there is a secret in the logs.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import TYPE_CHECKING, TextIO

from tidings.errors import ConfigError

if TYPE_CHECKING:
    from tidings.config import Settings

__all__ = ["banner_shows_secrets", "check_admin_exposure", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.0.0.0/8, ::1).

    A hostname other than ``localhost`` or ``""`` (all interfaces) counts as reachable.
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_admin_exposure(settings: Settings) -> None:
    """Refuse an admin listener off loopback without a password.

    Raises:
        ConfigError: naming the fix (a password, or a loopback ``admin_host``).
    """
    if settings.admin_password is None and not is_loopback(settings.admin_host):
        raise ConfigError(
            f"admin_host {settings.admin_host!r} is not a loopback address and "
            "admin_password is unset: anyone who can reach it could read the admin listener",
            hint="set TIDINGS_ADMIN_PASSWORD (admin_password in tidings.toml), or keep "
            "admin_host at 127.0.0.1 and reach it through an SSH tunnel or a proxy",
        )


def banner_shows_secrets(settings: Settings, stream: TextIO | None = None) -> bool:
    """Whether the banner may print app secrets: ``stream`` (stdout) is a terminal and the
    main listener is on loopback."""
    out = stream if stream is not None else sys.stdout
    return out.isatty() and not settings.is_public_bind
