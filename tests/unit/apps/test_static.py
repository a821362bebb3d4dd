"""StaticAppStore: lookups by key and id over the configured apps."""

from __future__ import annotations

import pytest

from tidings.apps.base import App
from tidings.apps.static import StaticAppStore
from tidings.errors import ConfigError
from tidings.typing import AppId, AppKey


def make(app_id: str, key: str) -> App:
    return App(id=AppId(app_id), key=AppKey(key), secret=f"secret-{app_id}")


async def test_lookups_by_key_and_id() -> None:
    """by_key and by_id find the app; unknown values give None."""
    one, two = make("1", "k1"), make("2", "k2")
    store = StaticAppStore([one, two])
    assert await store.by_key("k2") is two
    assert await store.by_id("1") is one
    assert await store.by_key("1") is None
    assert await store.by_id("k1") is None


async def test_all_keeps_order_and_returns_a_copy() -> None:
    """all() lists the apps in the given order; mutating the result changes nothing."""
    apps = [make("2", "b"), make("1", "a")]
    store = StaticAppStore(apps)
    listed = await store.all()
    assert listed == apps
    listed.clear()
    assert await store.all() == apps


@pytest.mark.parametrize("pair", [(("1", "a"), ("1", "b")), (("1", "a"), ("2", "a"))])
def test_duplicates_are_refused(pair: tuple[tuple[str, str], tuple[str, str]]) -> None:
    """Two apps with one id or one key make an ambiguous store: ConfigError."""
    with pytest.raises(ConfigError, match="two apps share the"):
        StaticAppStore([make(*pair[0]), make(*pair[1])])
