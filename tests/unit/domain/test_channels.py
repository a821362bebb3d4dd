"""Channel kinds, cache prefixes and name rules."""

from __future__ import annotations

import pytest

from tidings.domain.channels import (
    MAX_CHANNEL_NAME_LENGTH,
    ChannelKind,
    channel_kind,
    client_event_allowed,
    is_cache_channel,
    is_internal,
    name_problem,
    server_to_user_channel,
    server_to_user_id,
    user_id_problem,
    validate_channel_name,
)
from tidings.errors import SubscriptionError


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("my-channel", ChannelKind.PUBLIC),
        ("cache-a", ChannelKind.PUBLIC),
        ("privately", ChannelKind.PUBLIC),
        ("private-a", ChannelKind.PRIVATE),
        ("private-cache-a", ChannelKind.PRIVATE),
        ("private-encrypted-a", ChannelKind.PRIVATE_ENCRYPTED),
        ("private-encrypted-cache-a", ChannelKind.PRIVATE_ENCRYPTED),
        ("private-cache-encrypted-a", ChannelKind.PRIVATE_ENCRYPTED),
        ("presence-a", ChannelKind.PRESENCE),
        ("presence-cache-a", ChannelKind.PRESENCE),
    ],
)
def test_channel_kind(name: str, kind: ChannelKind) -> None:
    assert channel_kind(name) is kind


def test_kind_properties() -> None:
    assert [k.needs_auth for k in ChannelKind] == [False, True, True, True, False]
    assert [k.allows_client_events for k in ChannelKind] == [False, True, True, True, False]


@pytest.mark.parametrize(
    ("name", "cache"),
    [
        ("cache-a", True),
        ("private-cache-a", True),
        ("presence-cache-a", True),
        ("private-encrypted-cache-a", True),
        ("my-cache-a", False),
        ("private-a", False),
        ("presence-a", False),
    ],
)
def test_is_cache_channel(name: str, cache: bool) -> None:
    assert is_cache_channel(name) is cache


@pytest.mark.parametrize(
    "name", ["a", "-_=@,.;", "Az09", "x" * MAX_CHANNEL_NAME_LENGTH, "private-encrypted-x"]
)
def test_valid_names(name: str) -> None:
    assert name_problem(name) is None
    assert validate_channel_name(name) == name


@pytest.mark.parametrize(
    ("name", "needle"),
    [
        ("", "non-empty string"),
        (None, "non-empty string"),
        (7, "non-empty string"),
        ("x" * (MAX_CHANNEL_NAME_LENGTH + 1), "201 characters; the limit is 200"),
        ("a b", "characters outside"),
        ("a/b", "characters outside"),
        ("é", "characters outside"),
        ("a\n", "characters outside"),
        ("#tidings-users", "characters outside"),
        ("#server-to-user-", "is not #server-to-user-<user id>"),
        ("#server-to-user-a b", "is not #server-to-user-<user id>"),
        ("#server-to-user-" + "u" * 185, "201 characters; the limit is 200"),
    ],
)
def test_invalid_names(name: object, needle: str) -> None:
    problem = name_problem(name)
    assert problem is not None and needle in problem
    with pytest.raises(SubscriptionError) as info:
        validate_channel_name(name)
    assert info.value.kind == "InvalidChannel"
    assert info.value.status == 400
    assert info.value.message == problem


class TestServerToUser:
    """#server-to-user-{id}: Pusher's per-user channel, named as the PyPI SDK checks it."""

    def test_kind_and_rules(self) -> None:
        name = server_to_user_channel("u-1@x.org")
        assert name == "#server-to-user-u-1@x.org"
        assert name_problem(name) is None
        assert channel_kind(name) is ChannelKind.SERVER_TO_USER
        assert not ChannelKind.SERVER_TO_USER.needs_auth
        assert not ChannelKind.SERVER_TO_USER.allows_client_events
        assert not client_event_allowed("client-x", name)
        assert server_to_user_id(name) == "u-1@x.org"
        assert server_to_user_id("private-x") is None

    @pytest.mark.parametrize(
        ("user_id", "needle"),
        [
            ("", "non-empty string"),
            (5, "non-empty string"),
            ("a b", "characters outside"),
            ("#1", "characters outside"),
            ("u" * 201, "201 characters; the limit is 200"),
        ],
    )
    def test_user_id_problems(self, user_id: object, needle: str) -> None:
        problem = user_id_problem(user_id)
        assert problem is not None and needle in problem

    def test_valid_user_ids(self) -> None:
        assert user_id_problem("u" * 200) is None
        assert user_id_problem("-_=@,.;aZ09") is None

    def test_internal_names_are_no_client_channels(self) -> None:
        assert is_internal("#tidings-users")
        assert not is_internal("#server-to-user-1")
        assert name_problem("#tidings-users") is not None
