"""The shard of a channel: stable, even, and moving few channels when a shard is added."""

from __future__ import annotations

import pytest

from tidings.broker.redis_shards import ShardMap, jump_hash, shard_key
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.redis_url import cluster_nodes, redacted, split_broker_url

THREE = "redis://a:6379/0,redis://:secret@b:6379/0,rediss://c:6380/1"


def test_jump_hash_matches_the_published_algorithm() -> None:
    """Reference values of Lamping and Veach's jump consistent hash."""
    assert jump_hash(1, 1) == 0
    assert jump_hash(42, 57) == 43
    assert jump_hash(0xDEAD10CC, 666) == 361
    assert jump_hash(256, 1024) == 520
    with pytest.raises(ValueError, match="at least one bucket"):
        jump_hash(1, 0)


def test_the_key_is_stable_across_processes() -> None:
    """BLAKE2b of "app:channel", not Python's salted hash(): a fixed value."""
    assert shard_key("1", "news") == 0x2ED6C4760F358FCB
    assert shard_key("1", "news") != shard_key("2", "news")


def test_one_url_is_one_shard_with_everything_on_it() -> None:
    """A single URL keeps every channel on shard 0, labelled "" (messages as before)."""
    shards = ShardMap("redis://127.0.0.1:6379/0")
    assert shards.count == 1 and shards.labels == [""]
    assert {shards.index("1", f"c-{i}") for i in range(100)} == {0}


def test_shards_are_named_by_position_and_url_without_password() -> None:
    shards = ShardMap(THREE)
    assert shards.count == 3
    assert shards.labels == [
        "0 (redis://a:6379/0)",
        "1 (redis://b:6379/0)",
        "2 (rediss://c:6380/1)",
    ]


def test_channels_spread_evenly_and_a_new_shard_moves_about_a_quarter() -> None:
    """3 000 channels over 3 shards: each within 10 % of even; with a 4th shard about
    1/4 of them move, all to the new one."""
    three, four = ShardMap(THREE), ShardMap(THREE + ",redis://d:6379/0")
    names = [f"channel-{i}" for i in range(3000)]
    before = [three.index("app", n) for n in names]
    for shard in range(3):
        assert 900 <= before.count(shard) <= 1100
    after = [four.index("app", n) for n in names]
    moved = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    assert all(a == 3 for _, a in moved)
    assert 600 <= len(moved) <= 900


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis://a:1/0,,redis://b:1/0", "empty item"),
        ("redis://a:1/0,memory://", "must be a redis:// or rediss:// URL"),
        ("redis://a:1/0,redis://a:1/0", "named twice"),
    ],
)
def test_bad_shard_lists_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        split_broker_url(url)


def test_every_password_of_a_list_is_redacted() -> None:
    assert redacted(THREE + ",redis://u:pw@d:1/0") == (
        "redis://a:6379/0,redis://:****@b:6379/0,rediss://c:6380/1,redis://u:****@d:1/0"
    )


def test_a_cluster_url_is_one_item_with_its_seeds() -> None:
    """redis+cluster:// names seeds of one Redis Cluster: credentials, TLS options and the
    database go with the first seed's plain URL, every seed is (host, port)."""
    url = "rediss+cluster://:pw@10.0.0.5:7000,10.0.0.6:7001/0?ssl_cert_reqs=none"
    assert split_broker_url(url) == [url]
    assert ShardMap(url).count == 1
    assert cluster_nodes(url) == (
        "rediss://:pw@10.0.0.5:7000/0?ssl_cert_reqs=none",
        [("10.0.0.5", 7000), ("10.0.0.6", 7001)],
    )
    assert cluster_nodes("redis+cluster://h:1") == ("redis://h:1", [("h", 1)])


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+cluster://h", "write host:port"),
        ("redis+cluster://h:1,:2", "write host:port"),
        ("redis+cluster://h:1/3", "only database 0"),
    ],
)
def test_bad_cluster_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cluster_nodes(url)


def test_settings_take_shards_and_clusters_and_refuse_bad_lists() -> None:
    """broker_url validation: a shard list and a cluster URL load; a bad item is named."""
    assert Settings.load(broker_url=THREE).broker_url == THREE
    assert Settings.load(broker_url="redis+cluster://h:1,h:2").broker_url.startswith("redis+")
    with pytest.raises(ConfigError, match="named twice"):
        Settings.load(broker_url="redis://a:1/0,redis://a:1/0")


def test_an_unanswered_shard_is_named_without_its_credentials() -> None:
    """The error of a shard that did not answer names it (redacted); with one Redis, just Redis."""
    message, hint = ShardMap(THREE).unanswered(1, ConnectionError("refused"), "presence is off")
    assert message == (
        "Redis shard 1 (redis://b:6379/0) did not answer (ConnectionError: refused); "
        "presence is off"
    )
    where = "Redis shard 1 (redis://b:6379/0)"
    assert hint == f"check that {where} of TIDINGS_BROKER_URL is running and reachable"
    assert "secret" not in message + hint
    message, hint = ShardMap("redis://a:6379/0").unanswered(0, OSError("x"), "lost")
    assert message == "Redis did not answer (OSError: x); lost"
    assert hint == "check that Redis of TIDINGS_BROKER_URL is running and reachable"
