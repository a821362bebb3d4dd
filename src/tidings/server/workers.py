"""``tidings serve --workers N``: N processes sharing one port, each its own cluster node.

The parent process serves nothing. It forks N workers; each one runs the normal
server with ``SO_REUSEPORT`` on the same host and port, so the kernel spreads
new connections across them. With port 0 the parent first picks a free port
(and holds it, unlistened, until it exits) so that all workers share one.
Worker ``i`` gets the node id ``{node_id}-w{i}`` (``node_id`` defaults to a
random ``node-xxxxxxxx``) and the admin port ``admin_port + i`` (0 stays 0:
each picks a free port), so every worker's ``/metrics`` can be scraped. Only
worker 0 prints the banner.

The workers share state through the Redis broker, like nodes on different
machines: a memory broker is refused. SIGTERM or SIGINT to the parent is
forwarded to every worker as SIGTERM (each drains its clients) and the parent
waits for all of them. When one worker exits on its own, the parent logs it,
stops the others and exits 1; it never respawns a worker, so a supervisor
(systemd, Docker) restarts the whole group.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import secrets
import signal
import socket
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
        ConfigError: a memory broker, or admin ports past 65535.
    """
    n = settings.workers
    if n <= 1:
        return
    if urlsplit(settings.broker_url).scheme == "memory":
        raise ConfigError(
            f"--workers {n} needs a Redis broker (--broker redis://127.0.0.1:6379/0): "
            "the memory broker cannot share channels across processes"
        )
    if settings.admin_port and settings.admin_port + n - 1 > 65535:
        raise ConfigError(
            f"admin ports {settings.admin_port}..{settings.admin_port + n - 1} pass 65535 "
            f"(worker i listens on admin_port + i)",
            hint="lower admin_port or the number of workers",
        )


def worker_settings(settings: Settings, index: int, base_node_id: str) -> Settings:
    """The settings of worker ``index``: node id ``{base_node_id}-w{index}``, admin port
    ``admin_port + index`` (0 stays 0)."""
    admin_port = settings.admin_port + index if settings.admin_port else 0
    return settings.model_copy(
        update={"node_id": f"{base_node_id}-w{index}", "admin_port": admin_port}
    )


def reserve_port(host: str) -> socket.socket:
    """Bind (without listening) a free port on ``host`` with ``SO_REUSEPORT`` and return it.

    Keeping it bound stops another program from taking the port before the
    workers bind theirs; an unlistened socket gets no connections, so it does
    not join the kernel's load balancing. Close it when the workers are done.

    Raises:
        OSError: ``host`` cannot be resolved or bound.
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except BaseException:
        sock.close()
        raise
    return sock


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
    reserved: socket.socket | None = None
    if settings.http_port == 0:
        # Port 0 in each worker would give each its own port: pick one for all.
        reserved = reserve_port(settings.http_host)
        settings = settings.model_copy(update={"http_port": reserved.getsockname()[1]})
    try:
        return _run(settings, serve_one, reserved)
    finally:
        if reserved is not None:
            reserved.close()


def _run(
    settings: Settings,
    serve_one: Callable[[Settings, bool], None],
    reserved: socket.socket | None,
) -> int:
    base = settings.node_id or f"node-{secrets.token_hex(4)}"
    # fork, not spawn: the worker needs no re-import and the parent has not
    # started an event loop or any thread yet.
    context = multiprocessing.get_context("fork")
    procs = [
        context.Process(
            target=_worker_main,
            args=(worker_settings(settings, i, base), i, serve_one, reserved),
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
            port=settings.http_port,
            node_ids=[f"{base}-w{i}" for i in range(len(procs))],
            pids=[proc.pid for proc in procs if proc.pid is not None],
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
    settings: Settings,
    index: int,
    serve_one: Callable[[Settings, bool], None],
    reserved: socket.socket | None,
) -> None:
    if reserved is not None:
        reserved.close()  # the parent's placeholder, inherited through fork
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
