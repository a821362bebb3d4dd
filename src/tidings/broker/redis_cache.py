"""Reading a cache channel's last event back from Redis.

The event is written by the outbox (a ``SET`` in the publish's MULTI/EXEC) or
by the history script, under :func:`~tidings.broker.redis_keys.channel_key`
``"cache"``. The contract of :func:`read_cached`: it never raises; a Redis
error (reported to the link, which owns the broker's health), a missing key or
a value that is not a publication all read as ``None``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from redis.exceptions import RedisError

from tidings.broker.redis_codec import decode_message
from tidings.domain.messages import Publication

if TYPE_CHECKING:
    from tidings.broker.redis_link import RedisLink

__all__ = ["read_cached"]


async def read_cached(
    link: RedisLink, key: bytes, *, with_ttl: bool
) -> tuple[Publication, float] | None:
    """The publication stored at ``key`` and, ``with_ttl``, its remaining TTL in seconds.

    Without ``with_ttl`` it is one ``GET`` and the TTL reads 0; with it, ``GET``
    and ``PTTL`` in one MULTI/EXEC.
    """
    if asyncio.current_task() is None:
        await asyncio.sleep(0)  # redis-py's timeouts need a task: see RedisPresenceStore._call
    try:
        if with_ttl:
            async with link.redis.pipeline(transaction=True) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                raw, ttl_ms = await pipe.execute()
        else:
            raw, ttl_ms = await link.redis.get(key), 0
    except (RedisError, OSError) as exc:
        link.command_failed(exc)
        return None
    if raw is None:
        return None
    try:
        message = decode_message(raw.encode() if isinstance(raw, str) else raw)[2]
    except ValueError:
        return None
    if type(message) is not Publication:
        return None
    return message, max(0, int(ttl_ms)) / 1000
