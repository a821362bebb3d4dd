"""A bound on the whole shutdown of a server process, whatever hangs in it.

SIGTERM starts a drain made of bounded steps: clients get ``shutdown_grace_period``,
webhook flushes the same deadline, Redis commands their timeouts. Should one of them
still not return (a library that swallows a cancellation, a thread that never ends), a
process that never exits is worse than one that exits uncleanly: its supervisor waits,
a rolling restart stalls, and nothing says why. The watchdog is a daemon thread armed
when the drain starts. When its bound passes it logs what the event loop was still
running (each task's innermost frame) and every thread's stack, then ends the process
with exit code 1. It is never disarmed: it covers the event loop's own clean-up and the
interpreter's exit too, and dies with the process when that exits in time.
"""

from __future__ import annotations

import asyncio
import faulthandler
import os
import sys
import threading

import structlog

__all__ = ["EXIT_CODE", "SLACK_S", "arm"]

#: Seconds allowed after the grace period for the steps that follow it (flushes, closing
#: the broker and the app database): each is bounded by a few seconds on its own.
SLACK_S = 10.0
#: The exit code of a process the watchdog ended.
EXIT_CODE = 1

log = structlog.get_logger(__name__)


def arm(loop: asyncio.AbstractEventLoop, seconds: float) -> threading.Timer:
    """End this process (exit code :data:`EXIT_CODE`) unless it exits within ``seconds``.

    ``loop`` is the loop whose tasks are named in the log line when the bound passes.
    """
    timer = threading.Timer(seconds, _overran, args=(loop, seconds))
    timer.name = "tidings-shutdown-watchdog"
    timer.daemon = True
    timer.start()
    return timer


def _overran(loop: asyncio.AbstractEventLoop, seconds: float) -> None:
    log.error(
        "shutdown overran its bound; ending the process",
        bound_s=seconds,
        hint="the tasks below were still running; please report them",
        tasks=_running_tasks(loop),
    )
    sys.stdout.flush()
    faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
    sys.stderr.flush()
    os._exit(EXIT_CODE)  # not sys.exit: the loop or a thread is what does not finish


def _running_tasks(loop: asyncio.AbstractEventLoop) -> list[str]:
    """Each unfinished task of ``loop`` as ``name: outer (file:line) > … > innermost``,
    following the chain of awaited coroutines down to where the task waits.

    Read from another thread while the loop may run: a best effort, good enough to name
    the step that hangs.
    """
    try:
        tasks = list(asyncio.all_tasks(loop))
    except RuntimeError:  # the loop's task set changed while it was read
        return ["(the task list could not be read)"]
    return sorted(
        f"{task.get_name()}: {' > '.join(_awaiting(task)) or '(no frame)'}" for task in tasks
    )


def _awaiting(task: asyncio.Task[object]) -> list[str]:
    described: list[str] = []
    step: object = task.get_coro()
    while step is not None:
        frame = getattr(step, "cr_frame", None) or getattr(step, "gi_frame", None)
        if frame is None:
            break
        code = frame.f_code
        described.append(f"{code.co_name} ({code.co_filename}:{frame.f_lineno})")
        step = getattr(step, "cr_await", None) or getattr(step, "gi_yieldfrom", None)
    return described
