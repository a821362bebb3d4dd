"""start_eagerly: runs a coroutine at once, a task only for the rest after a wait."""

from __future__ import annotations

import asyncio

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
