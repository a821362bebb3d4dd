"""Start and stop the servers under test: tidings (one node or two over Redis), Node ``ws``, nchan
and Soketi.

Every process the bench starts is registered in :data:`REGISTRY` and stopped by PID (with its
children) when the bench ends, on Ctrl-C, SIGTERM or an exception. Servers listen on free ports
on 127.0.0.1 only. A baseline that cannot start yields a :class:`Skip` with the reason.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

__all__ = [
    "REGISTRY",
    "stop_target",
    "ROOT",
    "Registry",
    "Skip",
    "Started",
    "cpu_prefix",
    "free_port",
    "redis_stats",
    "start_target",
]

ROOT = Path(__file__).resolve().parent.parent
BASELINES = ROOT / "benchmarks" / "baselines"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
SOKETI_DIR = BASELINES / "soketi"
# Built by `make bench-deps` (benchmarks/baselines/glibc238-shim.c); npm ci wipes it with the rest.
SOKETI_SHIM = SOKETI_DIR / "node_modules" / ".glibc238-shim.so"
REDIS_URL = "redis://127.0.0.1:6379/14"
#: ``history_channels`` of the bench's app with ``--history`` (every channel it uses) and
#: without (none: set explicitly, so a TIDINGS_DEFAULT_APP_HISTORY_CHANNELS in the caller's
#: environment cannot turn it on unseen).
HISTORY_ON, HISTORY_OFF = '["*"]', "[]"


class Skip(Exception):
    """A target cannot run here; the message says why and how to fix it."""


@dataclass
class Started:
    """A running target: where it listens and which PIDs to measure."""

    name: str
    ports: list[int]
    pids: list[int]
    version: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    tmpdir: tempfile.TemporaryDirectory[str] | None = None
    #: The redis-servers this target started (its shards), to read their own statistics.
    redis_ports: list[int] = field(default_factory=list)


class Registry:
    """Every process started by the bench, so that all of them are stopped by PID."""

    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(
        self, cmd: list[str], *, cpu: int | None = None, **kwargs: object
    ) -> subprocess.Popen[bytes]:
        """Start ``cmd`` (pinned to ``cpu`` with taskset when given) in its own session."""
        proc: subprocess.Popen[bytes] = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
            cpu_prefix(cpu) + cmd,
            start_new_session=True,
            **kwargs,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """Terminate ``proc`` and its children (SIGTERM, then SIGKILL after ``grace`` s)."""
        try:
            children = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            children = []
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(grace)
        for child in children:
            with contextlib.suppress(psutil.Error):
                child.kill()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        """Stop every process still registered (called at exit and on interrupts)."""
        for proc in list(self.procs):
            with contextlib.suppress(Exception):
                self.stop(proc, grace=3.0)


REGISTRY = Registry()
atexit.register(REGISTRY.stop_all)


def cpu_prefix(cpu: int | None) -> list[str]:
    """``["taskset", "-c", N]`` when pinning is possible, else ``[]``."""
    if cpu is None or (os.cpu_count() or 1) < 2 or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", str(cpu)]


def free_port() -> int:
    """A currently free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded poll: the process gives no readiness signal
        if proc.poll() is not None:
            raise Skip(f"{what} exited with code {proc.returncode} during start-up")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise Skip(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _log_tail(path: Path) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-3:])
    return ""


def _start_tidings(cpu: int | None, nodes: int, shards: int = 0, history: bool = False) -> Started:
    """``nodes`` tidings nodes; over the Redis at ``REDIS_URL``, or over ``shards``
    redis-servers started here (the sharded engine; unpinned, beside the server). With
    ``history`` the default app keeps history of every channel (docs/history.md)."""
    tmp = tempfile.TemporaryDirectory(prefix="tidings-bench-")
    ports, pids, procs = [], [], []
    broker = [] if nodes == 1 else ["--broker", REDIS_URL]
    redis_ports: list[int] = []
    if shards:
        try:
            redis_ports, redis_procs = _start_redis_servers(shards, Path(tmp.name))
        except Skip:
            tmp.cleanup()
            raise
        procs += redis_procs
        broker = ["--broker", ",".join(f"redis://127.0.0.1:{p}/0" for p in redis_ports)]
    elif nodes > 1 and not _redis_up():
        tmp.cleanup()
        raise Skip("Redis does not answer on 127.0.0.1:6379 (start redis-server)")
    for index in range(nodes):
        port = free_port()
        log = Path(tmp.name) / f"node{index}.log"
        env = os.environ | {
            "TIDINGS_ADMIN_PORT": str(free_port()),
            "TIDINGS_NODE_ID": f"bench-{index}",
            "TIDINGS_LOG_LEVEL": "warning",
            # The client-events fan-out publishes as fast as it can from one connection.
            "TIDINGS_MAX_CLIENT_EVENTS_PER_SECOND": "0",
            "TIDINGS_DEFAULT_APP_HISTORY_CHANNELS": HISTORY_ON if history else HISTORY_OFF,
        }
        cmd = [
            sys.executable,
            "-c",
            "from tidings.cli.main import main; main()",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            *broker,
        ]
        with log.open("wb") as out:
            proc = REGISTRY.spawn(cmd, cpu=cpu, stdout=out, stderr=subprocess.STDOUT, env=env)
        procs.append(proc)
        try:
            _wait_listening(port, proc, f"tidings node {index}", 30.0)
        except Skip as exc:
            for p in procs:
                REGISTRY.stop(p)
            raise Skip(f"{exc}: {_log_tail(log)}") from exc
        ports.append(port)
        pids.append(proc.pid)
    from tidings import __version__

    name = "tidings" if nodes == 1 else "tidings-redis"
    if shards:
        name = f"tidings-shards{shards}"
    return Started(name, ports, pids, f"tidings {__version__}", procs, tmp, redis_ports)


def _start_redis_servers(count: int, tmp: Path) -> tuple[list[int], list[subprocess.Popen[bytes]]]:
    """``count`` throwaway redis-servers on free ports (no persistence), answering PING."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise Skip("redis-server is not on PATH (apt-get install redis-server)")
    ports, procs = [], []
    for index in range(count):
        port = free_port()
        log = tmp / f"redis{index}.log"
        cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        cmd += ["--appendonly", "no"]
        with log.open("wb") as out:
            proc = REGISTRY.spawn(cmd, stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        try:
            _wait_listening(port, proc, f"redis-server {index}", 10.0)
        except Skip:
            for p in procs:
                REGISTRY.stop(p)
            raise
        ports.append(port)
    return ports, procs


def redis_stats(port: int) -> tuple[float, int]:
    """A redis-server's own CPU seconds (user + system) and PUBLISH calls so far."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        cpu = client.info("cpu")
        commands = client.info("commandstats")
    finally:
        client.close()
    calls = int(commands.get("cmdstat_publish", {}).get("calls", 0))
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]), calls


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), 1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _start_ws(cpu: int | None) -> Started:
    node = shutil.which("node")
    if node is None:
        raise Skip("node is not installed (Node.js 18+ is needed for the ws baseline)")
    if not (BASELINES / "node_modules" / "ws").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            raise Skip("npm is missing: cannot install the ws baseline's dependencies")
        print("  installing the ws baseline (npm ci in benchmarks/baselines)", file=sys.stderr)
        done = subprocess.run(  # noqa: S603
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=BASELINES,
            capture_output=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise Skip(f"npm ci failed in benchmarks/baselines: {done.stderr.decode()[-300:]}")
    port = free_port()
    proc = REGISTRY.spawn(
        [node, str(BASELINES / "ws-server.js"), str(port)],
        cpu=cpu,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _wait_listening(port, proc, "the Node ws baseline", 20.0)
    version = subprocess.run([node, "--version"], capture_output=True, check=False).stdout
    return Started("ws", [port], [proc.pid], f"node {version.decode().strip()} + ws 8.23.0", [proc])


NGINX_CONF = """\
load_module {module};
worker_processes 1;
worker_rlimit_nofile 200000;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
daemon off;
events {{ worker_connections 100000; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {dir}/body;
  client_body_buffer_size 128k;
  nchan_shared_memory_size 512m;
  server {{
    listen 127.0.0.1:{port} backlog=2048;
    location ~ ^/sub/([^/]+)$ {{
      nchan_subscriber websocket;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }}
    location ~ ^/sub/([^/]+)/([^/]+)$ {{
      nchan_subscriber websocket;
      nchan_channel_id $1 $2;
      nchan_subscriber_first_message newest;
    }}
    location ~ ^/pub/([^/]+)$ {{
      nchan_publisher http;
      nchan_channel_id $1;
      nchan_message_buffer_length 1;
      nchan_message_timeout 10s;
    }}
  }}
}}
"""


def _start_nchan(cpu: int | None) -> Started:
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None or not NCHAN_MODULE.exists():
        raise Skip(
            "nginx with the nchan module is not installed "
            "(make bench-deps, i.e. apt-get install -y nginx-light libnginx-mod-nchan)"
        )
    tmp = tempfile.TemporaryDirectory(prefix="tidings-bench-nchan-")
    os.chmod(tmp.name, 0o755)
    port = free_port()
    conf = Path(tmp.name) / "nginx.conf"
    conf.write_text(NGINX_CONF.format(module=NCHAN_MODULE, dir=tmp.name, port=port))
    proc = REGISTRY.spawn(
        [nginx, "-p", tmp.name, "-c", str(conf)],
        cpu=cpu,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_listening(port, proc, "nginx+nchan", 20.0)
    except Skip as exc:
        REGISTRY.stop(proc)
        err = proc.stderr.read().decode(errors="replace")[-300:] if proc.stderr else ""
        tmp.cleanup()
        raise Skip(f"{exc}: {err} {_log_tail(Path(tmp.name) / 'error.log')}") from exc
    version = subprocess.run([nginx, "-v"], capture_output=True, check=False).stderr
    label = version.decode().strip().removeprefix("nginx version: ") + " + nchan"
    return Started("nchan", [port], [proc.pid], label, [proc], tmp)


def _glibc_before_2_38() -> bool:
    version = os.confstr("CS_GNU_LIBC_VERSION") if "CS_GNU_LIBC_VERSION" in os.confstr_names else ""
    parts = (version or "").removeprefix("glibc ").split(".")
    try:
        return (int(parts[0]), int(parts[1])) < (2, 38)
    except (IndexError, ValueError):
        return False


def _start_soketi(cpu: int | None) -> Started:
    node = shutil.which("node")
    server = SOKETI_DIR / "node_modules" / "@soketi" / "soketi" / "bin" / "server.js"
    if node is None or not server.is_file():
        raise Skip(
            "Soketi is not installed (make bench-deps: npm ci in benchmarks/baselines/soketi)"
        )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOKETI_")}
    if _glibc_before_2_38():
        # The prebuilt uWebSockets.js wants three GLIBC_2.38 symbols; make bench-deps marks
        # that need weak in the binary and builds this shim, which defines them.
        if not SOKETI_SHIM.is_file():
            raise Skip(f"{SOKETI_SHIM.name} is missing (glibc < 2.38 here): run make bench-deps")
        env["LD_PRELOAD"] = str(SOKETI_SHIM)
    tmp = tempfile.TemporaryDirectory(prefix="tidings-bench-soketi-")  # it reads ./.env
    port = free_port()
    env |= {
        "SOKETI_HOST": "127.0.0.1",
        "SOKETI_PORT": str(port),
        "SOKETI_METRICS_HOST": "127.0.0.1",
        "SOKETI_METRICS_SERVER_PORT": str(free_port()),  # 9601 by default, like tidings' admin
        # Node discovery (UDP) would broadcast to 255.255.255.255; keep it on loopback.
        "SOKETI_CLUSTER_HOST": "127.0.0.1",
        "SOKETI_CLUSTER_PORT": str(free_port()),
        "SOKETI_CLUSTER_UNICAST_ADDRESSES": '["127.0.0.1"]',
        "SOKETI_DEFAULT_APP_ID": "1",  # parsed as JSON: a number, as the SDKs send it
        "SOKETI_DEFAULT_APP_KEY": "app-key",
        "SOKETI_DEFAULT_APP_SECRET": "app-secret",
        "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES": "true",
        "SOKETI_EVENT_MAX_BATCH_SIZE": "10",
    }
    log = Path(tmp.name) / "soketi.log"
    with log.open("wb") as out:
        proc = REGISTRY.spawn(
            [node, str(server), "start"], cpu=cpu, cwd=tmp.name, env=env, stdout=out, stderr=out
        )
    try:
        _wait_listening(port, proc, "Soketi", 30.0)
    except Skip as exc:
        REGISTRY.stop(proc)
        tail = _log_tail(log)
        tmp.cleanup()
        raise Skip(f"{exc}: {tail}") from exc
    version = subprocess.run([node, "--version"], capture_output=True, check=False).stdout
    label = f"soketi 1.6.1 (uWebSockets.js 20.57.0) on node {version.decode().strip()}"
    return Started("soketi", [port], [proc.pid], label, [proc], tmp)


def start_target(name: str, cpu: int | None, history: bool = False) -> Started:
    """Start target ``name`` (tidings, tidings-redis, ws, nchan, soketi) pinned to ``cpu``.

    ``history`` turns channel history on for every channel of a tidings target; the
    baselines have no such thing and ignore it.

    Raises:
        Skip: the target cannot run on this machine; the message says why.
    """
    if name == "tidings":
        return _start_tidings(cpu, 1, history=history)
    if name == "tidings-redis":
        return _start_tidings(cpu, 2, history=history)
    if name.startswith("tidings-shards"):
        shards = int(name.removeprefix("tidings-shards"))
        return _start_tidings(cpu, 2, shards=shards, history=history)
    if name == "ws":
        return _start_ws(cpu)
    if name == "nchan":
        return _start_nchan(cpu)
    if name == "soketi":
        return _start_soketi(cpu)
    raise ValueError(f"unknown target {name!r}: use tidings, ws, nchan or soketi")


def stop_target(started: Started) -> None:
    """Stop a target's processes by PID and remove its temporary files."""
    for proc in started.procs:
        REGISTRY.stop(proc)
    if started.tmpdir is not None:
        started.tmpdir.cleanup()
