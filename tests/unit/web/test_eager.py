"""start_eagerly: runs a coroutine at once, a task only for the rest after a wait."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Generator
from typing import Any

import pytest

from tidings.web.eager import start_eagerly


async def test_a_coroutine_that_never_waits_needs_no_task() -> None:
    done: list[int] = []

    async def answer() -> int:
        return 42

    async def quick() -> None:
        done.append(await answer())  # awaiting a coroutine that returns does not wait

    assert start_eagerly(quick()) is None
    assert done == [42]  # ran before start_eagerly returned


async def test_a_waiting_coroutine_finishes_in_its_task_with_results_passed_in() -> None:
    steps: list[object] = []
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def waits() -> None:
        steps.append("before")
        steps.append(await future)
        await asyncio.sleep(0)
        steps.append("after")

    task = start_eagerly(waits())
    assert task is not None and steps == ["before"]
    future.set_result("value")
    await task
    assert steps == ["before", "value", "after"]


async def test_cancelling_the_task_cancels_the_coroutine_where_it_waits() -> None:
    cleaned: list[bool] = []

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned.append(True)

    task = start_eagerly(waits_forever())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_errors_surface_where_they_happen() -> None:
    async def fails_at_once() -> None:
        raise ValueError("now")

    with pytest.raises(ValueError, match="now"):
        start_eagerly(fails_at_once())

    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def fails_later() -> None:
        await future
        raise KeyError("later")

    task = start_eagerly(fails_later())
    assert task is not None
    future.set_exception(RuntimeError("inner"))
    with pytest.raises(RuntimeError, match="inner"):
        await task


async def test_two_eager_coroutines_may_wait_for_the_same_future() -> None:
    """The second task must wait too, not fail with 'await wasn't used with future'."""
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    results: list[int] = []

    async def waits() -> None:
        results.append(await future)

    tasks = [start_eagerly(waits()) for _ in range(3)]
    assert all(task is not None for task in tasks)
    await asyncio.sleep(0)  # every task takes the future now
    future.set_result(7)
    await asyncio.gather(*(t for t in tasks if t is not None))
    assert results == [7, 7, 7]


# -- what start_eagerly relies on in asyncio (pinned: see tidings.web.eager) -----------

try:
    import uvloop
except ImportError:  # the uvloop extra is optional
    uvloop = None  # type: ignore[assignment]

LOOPS: list[Callable[[], asyncio.AbstractEventLoop]] = [asyncio.new_event_loop]
if uvloop is not None:
    LOOPS.append(uvloop.new_event_loop)


def run_on(new_loop: Callable[[], asyncio.AbstractEventLoop], test: Callable[[], Any]) -> None:
    loop = new_loop()
    try:
        loop.run_until_complete(test())
    finally:
        loop.close()


@pytest.mark.parametrize("new_loop", LOOPS)
def test_pinned_an_await_marks_the_pending_future_taken(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """Future.__await__ sets the mark before it yields; a second awaiter fails while it is set.

    Why start_eagerly clears the mark after the first step. If this fails, the
    Python release changed the Future protocol: revisit tidings.web.eager.
    """

    async def test() -> None:
        future = asyncio.get_running_loop().create_future()

        async def waits() -> None:
            await future

        first, second = waits(), waits()
        assert first.send(None) is future
        assert future._asyncio_future_blocking is True
        with pytest.raises(RuntimeError, match="await wasn't used with future"):
            second.send(None)
        first.close()

    run_on(new_loop, test)


@pytest.mark.parametrize("new_loop", LOOPS)
def test_pinned_a_task_refuses_a_future_yielded_without_the_mark(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """A task takes a yielded future only with the mark set: why _Resumed sets it again."""

    class Unmarked:
        def __init__(self, future: asyncio.Future[None]) -> None:
            self.future = future

        def __await__(self) -> Generator[Any, None, None]:
            self.future._asyncio_future_blocking = False
            yield self.future

    async def test() -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def waits() -> None:
            await Unmarked(future)

        with pytest.raises(RuntimeError, match="yield was used instead of yield from"):
            await asyncio.get_running_loop().create_task(waits())

    run_on(new_loop, test)


@pytest.mark.parametrize("new_loop", LOOPS)
def test_pinned_shared_futures_work_on_every_loop(
    new_loop: Callable[[], asyncio.AbstractEventLoop],
) -> None:
    """The case the mark handling is for, on asyncio's loop and on uvloop."""

    async def test() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        results: list[int] = []

        async def waits() -> None:
            results.append(await future)

        tasks = [start_eagerly(waits()) for _ in range(3)]
        future.set_result(5)
        await asyncio.gather(*(t for t in tasks if t is not None))
        assert results == [5, 5, 5]

    run_on(new_loop, test)
