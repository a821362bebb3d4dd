"""TokenBucket: the per-connection limit on messages clients publish."""

from __future__ import annotations

import pytest

from tidings.protocol.ratelimit import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def allowed(bucket: TokenBucket, attempts: int) -> int:
    return sum(bucket.allow() for _ in range(attempts))


def test_starts_full_and_refills_at_the_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(4, clock)
    assert allowed(bucket, 10) == 4
    clock.now += 0.25
    assert allowed(bucket, 10) == 1
    clock.now += 0.1  # 0.4 of a token: not enough
    assert allowed(bucket, 1) == 0
    clock.now += 0.15  # 0.4 + 0.6 = 1
    assert allowed(bucket, 1) == 1


def test_refill_is_capped_at_one_second_of_events() -> None:
    clock = Clock()
    bucket = TokenBucket(3, clock)
    clock.now += 3600
    assert allowed(bucket, 100) == 3


def test_zero_is_unlimited() -> None:
    bucket = TokenBucket(0, Clock())
    assert bucket.rate == 0
    assert allowed(bucket, 10_000) == 10_000


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="0 \\(no limit\\) or more"):
        TokenBucket(-1, Clock())


def test_a_costly_request_passes_on_a_whole_token_and_leaves_a_debt() -> None:
    clock = Clock()
    bucket = TokenBucket(10, clock)
    assert bucket.allow(25)  # larger than the rate: possible, once
    assert not bucket.allow()
    assert bucket.retry_after() == pytest.approx(1.6)  # 16 tokens owed, at 10 per second
    clock.now += 1.5
    assert not bucket.allow()
    clock.now += 0.1
    assert bucket.retry_after() == pytest.approx(0.0)
    assert bucket.allow()


def test_retry_after_is_zero_without_a_limit_or_with_tokens() -> None:
    assert TokenBucket(0, Clock()).retry_after() == 0.0
    assert TokenBucket(5, Clock()).retry_after() == 0.0
