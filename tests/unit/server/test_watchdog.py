"""The shutdown watchdog ends a process whose shutdown hangs, and names what hung."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

from tidings.server import watchdog

# A shutdown that never ends: the task swallows every cancellation, as a library that
# turns a cancel into a retry would, and the loop's clean-up waits for it.
_STUCK = textwrap.dedent(
    """
    import asyncio
    from tidings.server import watchdog

    async def swallow_cancels() -> None:
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                pass

    async def main() -> None:
        asyncio.get_running_loop().create_task(swallow_cancels(), name="stuck-step")
        watchdog.arm(asyncio.get_running_loop(), 0.5)

    asyncio.run(main())  # cancels the stuck task, then waits for it: forever
    """
)


def test_a_hung_shutdown_ends_the_process_naming_the_task() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _STUCK], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == watchdog.EXIT_CODE, done
    assert "shutdown overran its bound" in done.stdout
    assert "stuck-step: swallow_cancels" in done.stdout
    assert "most recent call first" in done.stderr  # every thread's stack


def test_a_process_that_exits_in_time_is_left_alone() -> None:
    script = textwrap.dedent(
        """
        import asyncio
        from tidings.server import watchdog

        async def main() -> None:
            watchdog.arm(asyncio.get_running_loop(), 30)

        asyncio.run(main())
        print("exited")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 0, done
    assert done.stdout.strip() == "exited"


async def test_the_log_names_each_running_task_where_it_waits() -> None:
    """What the watchdog logs: each unfinished task by name, and the chain of coroutines
    it awaits down to where it waits."""

    async def waiting_for_redis() -> None:
        await asyncio.Event().wait()

    task = asyncio.get_running_loop().create_task(waiting_for_redis(), name="broker-close")
    await asyncio.sleep(0)
    try:
        running = watchdog._running_tasks(asyncio.get_running_loop())
    finally:
        task.cancel()
    (line,) = [line for line in running if line.startswith("broker-close")]
    assert line.startswith(f"broker-close: waiting_for_redis ({__file__}:")
    assert " > wait (" in line and "asyncio/locks.py" in line
