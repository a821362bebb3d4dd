"""The harness's own Redis helpers, so a Redis factory can rely on them."""

from __future__ import annotations

import redis.asyncio as aioredis

from tests.contract.harness import age_redis_keys


async def test_age_redis_keys_shortens_and_ends_ttls(redis_url: str) -> None:
    """Aging shortens a key's TTL, deletes keys it runs out, and leaves keys without TTL."""
    client = aioredis.Redis.from_url(redis_url)
    prefix = "tidings-test-harness:"
    try:
        await client.set(prefix + "long", "1", px=600_000)
        await client.set(prefix + "short", "1", px=30_000)
        await client.set(prefix + "forever", "1")
        await age_redis_keys(redis_url, 60, match=prefix + "*")
        assert 0 < await client.pttl(prefix + "long") <= 540_000
        assert await client.exists(prefix + "short") == 0
        assert await client.pttl(prefix + "forever") == -1
    finally:
        await client.delete(prefix + "long", prefix + "short", prefix + "forever")
        await client.aclose()
