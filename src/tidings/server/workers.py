"""``tidings serve --workers N``: N processes sharing one port, each its own cluster node.

The parent process binds nothing. It forks N workers; each one runs the normal
server with ``SO_REUSEPORT`` on the same host and port, so the kernel spreads
new connections across them. Worker ``i`` gets the node id ``{node_id}-{i}``
(``node_id`` defaults to a random ``node-xxxxxxxx``) and the admin port
``admin_port + i`` (0 stays 0: each picks a free port), so every worker's
``/metrics`` can be scraped. Only worker 0 prints the banner.

The workers share state through the Redis broker, like nodes on different
machines: a memory broker is refused. SIGTERM or SIGINT to the parent is
forwarded to every worker as SIGTERM (each drains its clients) and the parent
waits for all of them. When one worker exits on its own, the parent stops the
others and exits 1, so a supervisor (systemd, Docker) restarts the whole group.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import cast
from urllib.parse import urlsplit

import structlog

from tidings.config import Settings
from tidings.errors import ConfigError, TidingsError

__all__ = ["check_workers", "run_workers", "worker_settings"]

log = structlog.get_logger(__name__)


def check_workers(settings: Settings) -> None:
    """Refuse worker settings that cannot work. A no-op for ``workers == 1``.

    Raises:
        ConfigError: a memory broker, port 0, or admin ports past 65535.
    """
    n = settings.workers
    if n <= 1:
        return
    if urlsplit(settings.broker_url).scheme == "memory":
        raise ConfigError(
            f"--workers {n} needs a Redis broker (--broker redis://127.0.0.1:6379/0): "
            "memory brokers cannot share state across processes"
        )
    if settings.http_port == 0:
        raise ConfigError(
            f"--workers {n} needs a fixed port: with port 0 each worker would listen on its own",
            hint="pass --port 6001 (or any free port)",
        )
    if settings.admin_port and settings.admin_port + n - 1 > 65535:
        raise ConfigError(
            f"admin ports {settings.admin_port}..{settings.admin_port + n - 1} pass 65535 "
            f"(worker i listens on admin_port + i)",
            hint="lower admin_port or the number of workers",
        )


def worker_settings(settings: Settings, index: int, base_node_id: str) -> Settings:
    """The settings of worker ``index``: its own node id and admin port."""
    admin_port = settings.admin_port + index if settings.admin_port else 0
    return settings.model_copy(
        update={"node_id": f"{base_node_id}-{index}", "admin_port": admin_port}
    )


def run_workers(settings: Settings, serve_one: Callable[[Settings, bool], None]) -> int:
    """Fork ``settings.workers`` workers running ``serve_one`` and wait for all of them.

    Args:
        serve_one: runs one server until SIGTERM; its second argument says
            whether to print the banner (worker 0 only).

    Returns:
        0 when every worker exited 0 after a signal, else 1.

    Raises:
        ConfigError: from :func:`check_workers`.
    """
    check_workers(settings)
    base = settings.node_id or f"node-{secrets.token_hex(4)}"
    # fork, not spawn: the worker needs no re-import and the parent has not
    # started an event loop or any thread yet.
    context = multiprocessing.get_context("fork")
    procs = [
        context.Process(
            target=_worker_main,
            args=(worker_settings(settings, i, base), i, serve_one),
            name=f"tidings-worker-{i}",
        )
        for i in range(settings.workers)
    ]
    stopping = False

    def stop_all(signum: int = signal.SIGTERM, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for proc in procs:
            if proc.pid is not None and proc.exitcode is None:
                os.kill(proc.pid, signal.SIGTERM)  # our own child, by PID

    previous = {sig: signal.signal(sig, stop_all) for sig in (signal.SIGTERM, signal.SIGINT)}
    code = 0
    try:
        for proc in procs:
            if stopping:  # a signal came while forking: start no more
                break
            proc.start()
        log.info(
            "workers started",
            workers=len(procs),
            node_ids=[f"{base}-{i}" for i in range(len(procs))],
        )
        pending = {proc.sentinel: proc for proc in procs if proc.pid is not None}
        while pending:
            for sentinel in multiprocessing.connection.wait(list(pending)):
                proc = pending.pop(cast(int, sentinel))
                proc.join()
                if proc.exitcode != 0:
                    code = 1
                if not stopping:
                    log.error(
                        "worker exited; stopping the others",
                        worker=proc.name,
                        exit_code=proc.exitcode,
                    )
                    code = 1
                    stop_all()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def _worker_main(
    settings: Settings, index: int, serve_one: Callable[[Settings, bool], None]
) -> None:
    # The parent forwards SIGINT as SIGTERM; a terminal's Ctrl-C also reaches
    # the whole process group, and must not raise KeyboardInterrupt in here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        serve_one(settings, index == 0)
    except OSError as exc:
        where = f"{settings.http_host}:{settings.http_port}"
        _fail(f"worker {index}: cannot listen on {where}: {exc.strerror or exc}")
    except TidingsError as exc:
        _fail(f"worker {index}: {exc.message}" + (f"; {exc.hint}" if exc.hint else ""))


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(1)
