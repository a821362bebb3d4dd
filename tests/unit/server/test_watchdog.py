"""The shutdown watchdog ends a process whose shutdown hangs, and names what hung."""

from __future__ import annotations

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
    assert "stuck-step at" in done.stdout and "swallow_cancels" in done.stdout
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
