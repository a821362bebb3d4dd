"""Channel kinds, cache prefixes and name rules."""

from __future__ import annotations

import pytest

from tidings.domain.channels import (
    MAX_CHANNEL_NAME_LENGTH,
    ChannelKind,
    channel_kind,
    is_cache_channel,
    name_problem,
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
    assert [k.needs_auth for k in ChannelKind] == [False, True, True, True]
    assert [k.allows_client_events for k in ChannelKind] == [False, True, True, True]


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
        ("#server-to-user-1", "characters outside"),
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
