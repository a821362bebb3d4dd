"""Start-up exposure rules (tidings.security) and the banner's use of them."""

from __future__ import annotations

import io

import pytest

from tidings.banner import render_banner
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.security import banner_shows_secrets, check_admin_exposure, is_loopback

URL = "http://127.0.0.1:6001"


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "127.0.0.2", "::1", "[::1]"])
def test_loopback_admin_needs_no_password(host: str) -> None:
    assert is_loopback(host)
    check_admin_exposure(Settings.load(admin_host=host))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.0.0.5", "admin.example.com"])
def test_reachable_admin_needs_a_password(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        check_admin_exposure(Settings.load(admin_host=host))
    assert "admin_password is unset" in caught.value.message
    assert "TIDINGS_ADMIN_PASSWORD" in caught.value.hint
    check_admin_exposure(Settings.load(admin_host=host, admin_password="pw"))


def test_banner_secrets_need_a_terminal_and_loopback() -> None:
    assert banner_shows_secrets(Settings.load(), _Tty())
    assert not banner_shows_secrets(Settings.load(), io.StringIO())
    assert not banner_shows_secrets(Settings.load(http_host="0.0.0.0"), _Tty())


def test_masked_banner_shows_no_apps_secret() -> None:
    apps = [
        {"id": "1", "key": "k1", "secret": "first-" + "x" * 20},
        {"id": "2", "key": "k2", "secret": "second-" + "y" * 20},
    ]
    settings = Settings.load(apps=apps)
    masked = render_banner(settings, ws_url=URL, http_url=URL, admin_url=URL, show_secrets=False)
    assert "x" * 20 not in masked and "y" * 20 not in masked and "key=k1" in masked
    shown = render_banner(settings, ws_url=URL, http_url=URL, admin_url=URL, show_secrets=True)
    assert "x" * 20 in shown and "y" * 20 in shown
