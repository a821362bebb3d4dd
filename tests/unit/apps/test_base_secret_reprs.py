"""No repr shows a secret: tracebacks, debug logs and error reports print reprs."""

from __future__ import annotations

from tidings.apps.base import App, session_arguments
from tidings.config import AppConfig, Settings
from tidings.protocol.pusher.session import SessionPolicy
from tidings.typing import AppId, AppKey

SECRET = "-".join(["top", "secret", "value"])


def test_app_hides_its_secrets() -> None:
    app = App(id=AppId("1"), key=AppKey("k"), secret=SECRET, previous_secret=SECRET + "-old")
    assert SECRET not in repr(app) and "key='k'" in repr(app)
    policy = SessionPolicy(**session_arguments(app, "policy"))
    assert SECRET not in repr(policy) and "key='k'" in repr(policy)


def test_settings_hide_secrets_passwords_and_broker_credentials() -> None:
    settings = Settings.load(
        default_app_secret=SECRET,
        admin_password=SECRET,
        broker_url=f"redis://tidings:{SECRET}@127.0.0.1:6379/0",
    )
    assert SECRET not in repr(settings) and "http_port=6001" in repr(settings)
    assert SECRET not in repr(settings.app_list())
    table = AppConfig(id="2", key="k2", secret=SECRET)
    assert SECRET not in repr(table) and "k2" in repr(table)
    assert SECRET not in repr(Settings.load(apps=[table]))
