"""Which Redis server carries a channel: the sharded engine's one decision.

``broker_url`` may name several Redis servers, comma-separated
(``redis://a:6379/0,redis://b:6379/0``). Every (app, channel) belongs to one
of them, its *shard*, picked by :class:`ShardMap`; that server carries the
channel's pub/sub, cache, presence, history and webhook occupancy. Keys that
belong to no channel (node heartbeats, counts, the control channel, webhook
deliveries and logs) live on shard 0. One URL is one shard: everything on it,
as before sharding existed.

The pick must be the same on every node, in every process and across restarts,
so it hashes bytes with a fixed function (BLAKE2b, first 8 bytes), never
Python's ``hash()`` (salted per process). Jump consistent hash (Lamping and
Veach, 2014) spreads the 64-bit key over the shards evenly, and growing from
N to N + 1 shards moves only about 1/(N + 1) of the channels (the moved ones
all go to the new shard). Shards are identified by their position in the URL
list: reordering the list moves channels, appending one moves the fewest.
"""

from __future__ import annotations

import hashlib
from typing import Final
from urllib.parse import urlsplit

from tidings.redis_url import redacted, split_broker_url

__all__ = ["ShardMap", "jump_hash", "shard_key"]

_JUMP_MULTIPLIER: Final = 2862933555777941757
_MASK64: Final = (1 << 64) - 1


def shard_key(app_id: str, channel: str) -> int:
    """A stable 64-bit number for (app, channel): the first 8 bytes of BLAKE2b."""
    digest = hashlib.blake2b(f"{app_id}:{channel}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def jump_hash(key: int, buckets: int) -> int:
    """Jump consistent hash: the bucket in ``range(buckets)`` of a 64-bit ``key``."""
    if buckets <= 0:
        raise ValueError(f"need at least one bucket, got {buckets}")
    b, j = -1, 0
    while j < buckets:
        b = j
        key = (key * _JUMP_MULTIPLIER + 1) & _MASK64
        j = int((b + 1) * ((1 << 31) / ((key >> 33) + 1)))
    return b


class ShardMap:
    """The shards of a broker URL and the shard of every channel.

    Brokers and stores ask it, never hash themselves, so every part of a node
    (and every node) puts a channel's keys on the same server.

    Args:
        url: ``broker_url``: one Redis URL, or several comma-separated.
    """

    def __init__(self, url: str) -> None:
        self.urls: list[str] = split_broker_url(url)
        #: How each shard is named in errors, logs, ``/ready`` and metrics:
        #: empty with one server (messages stay as they were), else
        #: ``"1 (redis://host:port/0)"`` (position and redacted URL).
        self.labels: list[str] = (
            [""] if len(self.urls) == 1 else [f"{i} ({_where(u)})" for i, u in enumerate(self.urls)]
        )

    @property
    def count(self) -> int:
        """How many shards (Redis servers) there are."""
        return len(self.urls)

    def index(self, app_id: str, channel: str) -> int:
        """The position of the shard that carries ``channel`` of ``app_id``."""
        count = len(self.urls)
        if count == 1:
            return 0
        return jump_hash(shard_key(app_id, channel), count)

    def unanswered(self, shard: int, exc: BaseException, lost: str) -> tuple[str, str]:
        """The message and the hint of an error for ``shard`` not answering.

        Args:
            exc: what the Redis client raised.
            lost: what cannot be done meanwhile (ends the message).
        """
        label = self.labels[shard]
        where = f"Redis shard {label}" if label else "Redis"
        return (
            f"{where} did not answer ({type(exc).__name__}: {exc}); {lost}",
            f"check that {where} of TIDINGS_BROKER_URL is running and reachable",
        )


def _where(url: str) -> str:
    """A shard's URL without credentials or query."""
    parts = urlsplit(redacted(url))
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"
