"""The part both clients share: built from settings as their own class, the same auth answers."""

from __future__ import annotations

import pytest

from tidings.client import AsyncClient, Client
from tidings.client.auth import channel_authorization, user_authentication
from tidings.config import Settings

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.mark.parametrize("kind", [Client, AsyncClient])
def test_from_settings_builds_the_class_asked_for(kind: type[Client] | type[AsyncClient]) -> None:
    """The first app's credentials at the configured listener, as a Client or an AsyncClient."""
    client = kind.from_settings(Settings.load(http_port=6123))
    assert type(client) is kind
    assert client.url == "http://127.0.0.1:6123"
    assert (client.api.app_id, client.api.key) == ("1", "app-key")


@pytest.mark.parametrize("kind", [Client, AsyncClient])
def test_auth_answers_are_the_signing_functions(kind: type[Client] | type[AsyncClient]) -> None:
    """No I/O: the same strings as tidings.client.auth computes with the app's secret."""
    client = kind("1", "k", "s")
    member = {"user_id": "u1"}
    assert client.authorize_channel("1.2", "presence-x", member) == channel_authorization(
        "k", "s", "1.2", "presence-x", member
    )
    assert client.authenticate_user("1.2", {"id": "u1"}) == user_authentication(
        "k", "s", "1.2", {"id": "u1"}
    )
