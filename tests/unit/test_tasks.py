"""``tasks.stop`` ends tasks for certain, even one that absorbs a cancellation."""

from __future__ import annotations

import asyncio

from tidings import tasks


async def test_a_task_that_absorbs_a_cancellation_is_cancelled_again() -> None:
    """As a retry loop does when redis-py turns a cancellation into a TimeoutError."""
    absorbed = 0

    async def retry_loop() -> None:
        nonlocal absorbed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if absorbed:
                    raise
                absorbed += 1  # the first one is taken for a timeout: go on

    task = asyncio.get_running_loop().create_task(retry_loop())
    await asyncio.sleep(0)
    await asyncio.wait_for(tasks.stop(task), 5)
    assert task.cancelled() and absorbed == 1


async def test_none_finished_and_failed_tasks_are_fine() -> None:
    async def fail() -> None:
        raise RuntimeError("boom")

    async def finish() -> int:
        return 1

    loop = asyncio.get_running_loop()
    failed, finished = loop.create_task(fail()), loop.create_task(finish())
    await asyncio.sleep(0)
    await tasks.stop(None, failed, finished)  # no raise, and nothing left unretrieved
    assert failed.done() and finished.result() == 1
