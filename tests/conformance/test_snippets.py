"""Every printed snippet runs as printed, against a real server, with and without TLS.

The snippets come from ``tidings snippet KIND`` (the same text the banner prints), are
run unchanged by the tool they are written for (the PyPI ``pusher`` SDK in a fresh Python,
``curl``, the ``tidings`` console script, Node 20 with pusher-js, Laravel Echo and
piesocket-js), and must deliver ``my-event`` on ``my-channel``. With TLS the server has a
fresh self-signed certificate, so every snippet must trust it by itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import ssl
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import websockets
from typer.testing import CliRunner

from tests.conformance.conftest import NODE_DIR, TIMEOUT, node_binary
from tests.fixtures.tls import client_context, self_signed
from tidings.cli.main import app as cli
from tidings.client import AsyncClient, ServerUnreachable
from tidings.config import Settings
from tidings.server.runner import RunningServer, start_server

_BIN = Path(sys.executable).parent  # the venv's bin: python, tidings
_EXPECTED = {"message": "hello"}


class Target:
    """A running server, the environment that makes ``tidings snippet`` describe it, and a
    client context that trusts it."""

    def __init__(self, running: RunningServer, env: dict[str, str], tls: ssl.SSLContext | None):
        self.running = running
        self.env = env
        self.tls = tls

    def snippet(self, kind: str) -> str:
        """``tidings snippet KIND`` for this server, as printed."""
        result = CliRunner().invoke(cli, ["snippet", kind], env=self.env)
        assert result.exit_code == 0, result.output
        return result.stdout

    async def subscriber(self) -> websockets.ClientConnection:
        """A raw Pusher connection subscribed to my-channel."""
        ws = await websockets.connect(f"{self.running.ws_url}/app/app-key?protocol=7", ssl=self.tls)
        await asyncio.wait_for(ws.recv(), TIMEOUT)  # connection_established
        await ws.send('{"event":"pusher:subscribe","data":{"channel":"my-channel"}}')
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
        assert reply["event"] == "pusher_internal:subscription_succeeded", reply
        return ws


@pytest.fixture(params=["plain", "tls"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    """A server on a free port, plain or with a self-signed certificate."""
    overrides: dict[str, Any] = {"http_port": 0, "shutdown_grace_period": 0.5}
    env: dict[str, str] = {}
    tls = None
    if request.param == "tls":
        cert, key = self_signed(tmp_path)
        overrides |= {"tls_cert": cert, "tls_key": key}
        env |= {"TIDINGS_TLS_CERT": str(cert), "TIDINGS_TLS_KEY": str(key)}
        tls = client_context(cert)
    running = await start_server(Settings.load(**overrides))
    env["TIDINGS_HTTP_PORT"] = str(running.port)
    try:
        yield Target(running, env, tls)
    finally:
        await running.shutdown()


async def _run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run a command to completion; return (exit code, stdout, stderr)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        env=env if env is not None else dict(os.environ),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()  # our own child, by its PID
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode, stdout.decode(errors="replace"), stderr.decode(errors="replace")


async def _delivered(ws: websockets.ClientConnection) -> None:
    """The next event on ``ws`` is the snippets' my-event with the sample data."""
    message = orjson.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
    assert message["event"] == "my-event", message
    assert orjson.loads(message["data"]) == _EXPECTED


async def test_python_snippet_publishes(target: Target) -> None:
    """The PyPI pusher SDK snippet publishes as printed (TLS: it trusts the self-signed cert)."""
    ws = await target.subscriber()
    code, _, errors = await _run([sys.executable, "-c", target.snippet("python")])
    assert code == 0, errors
    await _delivered(ws)
    await ws.close()


_ENV_CLIENT = """
import os, pusher
from pusher.requests import RequestsBackend

env, verify = os.environ, os.environ.get("VERIFY")


class Verify(RequestsBackend):
    def __init__(self, client, **options):
        super().__init__(client, **options)
        if verify:
            self.options["verify"] = verify


client = pusher.Pusher(
    app_id=env["PUSHER_APP_ID"], key=env["PUSHER_APP_KEY"], secret=env["PUSHER_APP_SECRET"],
    host=env["PUSHER_HOST"], port=int(env["PUSHER_PORT"]),
    ssl=env["PUSHER_SCHEME"] == "https", backend=Verify,
)
client.trigger("my-channel", "my-event", {"message": "hello"})
"""


async def test_laravel_env_values_publish(target: Target) -> None:
    """The .env values (and, with TLS, the 'verify' file its comment names) are what a
    Pusher server SDK needs: the PyPI SDK configured from them, as Laravel's driver
    configures pusher-php-server, publishes."""
    text = target.snippet("env")
    values = dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z_]+=", line))
    verify = re.search(r"'verify' => '([^']+)'", text)
    assert (verify is not None) == (target.tls is not None)
    env = {**os.environ, **values, "VERIFY": verify.group(1) if verify else ""}
    ws = await target.subscriber()
    code, _, errors = await _run([sys.executable, "-c", _ENV_CLIENT], env)
    assert code == 0, errors
    await _delivered(ws)
    await ws.close()


async def test_curl_snippet_publishes(target: Target) -> None:
    """The signed curl command publishes as printed (TLS: with --cacert)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.fail("curl is needed: apt-get install curl", pytrace=False)
    ws = await target.subscriber()
    code, output, errors = await _run(["bash", "-c", target.snippet("curl")])
    assert code == 0, errors
    assert output == "{}"
    await _delivered(ws)
    await ws.close()


async def test_trigger_command_in_the_curl_advice_publishes(target: Target) -> None:
    """The `tidings trigger` line the curl snippet advises works from a shell as printed,
    with no tidings environment at all (it carries --url and --cacert itself)."""
    line = next(line for line in target.snippet("curl").splitlines() if "tidings trigger" in line)
    argv = shlex.split(line.removeprefix("#").strip())
    assert argv[0] == "tidings"
    ws = await target.subscriber()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("TIDINGS_")}
    proc_env = {**clean, "PATH": f"{_BIN}{os.pathsep}{clean.get('PATH', '')}"}
    code, output, errors = await _run(argv, proc_env)
    assert code == 0, errors
    assert output == "triggered my-event on my-channel\n"
    await _delivered(ws)
    await ws.close()


async def test_trigger_trusts_the_configured_self_signed_cert(target: Target) -> None:
    """`tidings trigger` with the server's own settings needs no CA option at all."""
    ws = await target.subscriber()
    args = ["trigger", "my-channel", "my-event", '{"message": "hello"}']
    # The command blocks on its HTTP call: off the loop that serves it.
    result = await asyncio.to_thread(CliRunner().invoke, cli, args, env=target.env)
    assert result.exit_code == 0, result.output
    await _delivered(ws)
    await ws.close()


@pytest.fixture
def node_dir(tmp_path: Path) -> Path:
    """A folder where `node x.mjs` finds the pinned packages, as after `npm install`."""
    node_binary()
    folder = tmp_path / "app"
    folder.mkdir()
    (folder / "node_modules").symlink_to(NODE_DIR / "node_modules")
    return folder


async def _node_receives(target: Target, folder: Path, kind: str) -> None:
    """Run the Node snippet ``kind`` as its comment says; a publish must reach its console.log."""
    text = target.snippet(kind)
    run_line = next(line for line in text.splitlines() if "run `" in line)
    command = run_line.split("run `", 1)[1].split("`", 1)[0]
    *assignments, node, script = shlex.split(command)
    env = dict(item.split("=", 1) for item in assignments)
    (folder / script).write_text(text)
    errors = (folder / "stderr.txt").open("wb")  # a file never fills up and blocks node
    proc = await asyncio.create_subprocess_exec(
        node_binary() if node == "node" else node,
        script,
        cwd=folder,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=errors,
    )
    assert proc.stdout is not None
    try:
        async with AsyncClient(
            "1",
            "app-key",
            "app-secret",
            url=target.running.http_url,
            cafile=env.get("NODE_EXTRA_CA_CERTS"),
        ) as api:
            channel = "my-channel"
            deadline = asyncio.get_running_loop().time() + 15
            # The snippet prints nothing until an event comes: wait (bounded) for its
            # subscription to show in the channel list, then publish.
            while channel not in await api.channels():
                assert proc.returncode is None, (folder / "stderr.txt").read_text()
                assert asyncio.get_running_loop().time() < deadline, "the snippet never subscribed"
                await asyncio.sleep(0.1)
            await api.trigger(channel, "my-event", _EXPECTED)
            line = await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)
        assert b"hello" in line, (line, (folder / "stderr.txt").read_text())
    finally:
        if proc.returncode is None:
            proc.kill()  # our own child, by its PID
        await proc.wait()
        errors.close()


@pytest.mark.node
@pytest.mark.parametrize("kind", ["js", "echo"])
async def test_pusher_js_and_echo_snippets_receive(
    target: Target, node_dir: Path, kind: str
) -> None:
    """pusher-js and Laravel Echo snippets run in Node 20 as printed and log the event."""
    await _node_receives(target, node_dir, kind)


@pytest.mark.node
@pytest.mark.parametrize("target", ["tls"], indirect=True)
async def test_piesocket_snippet_receives(target: Target, node_dir: Path) -> None:
    """The piesocket-js snippet runs in Node 20 as printed (over TLS: it only uses wss://)."""
    await _node_receives(target, node_dir, "piesocket")


@pytest.mark.parametrize("target", ["plain"], indirect=True)
def test_plain_piesocket_snippet_says_it_needs_tls(target: Target) -> None:
    """Without TLS the piesocket snippet says first that piesocket-js needs wss://."""
    assert "piesocket-js always connects with wss://" in target.snippet("piesocket")


@pytest.mark.parametrize("target", ["tls"], indirect=True)
async def test_untrusted_certificate_names_the_fix(target: Target) -> None:
    """Without the certificate, the client says it is not trusted and how to pass it."""
    async with AsyncClient("1", "app-key", "app-secret", url=target.running.http_url) as api:
        with pytest.raises(ServerUnreachable) as caught:
            await api.channels()
    assert "its TLS certificate is not trusted" in caught.value.message
    assert "--cacert cert.pem" in caught.value.hint
    args = ["channels", "--url", target.running.http_url]
    result = await asyncio.to_thread(CliRunner().invoke, cli, args)
    assert result.exit_code == 1
    assert "its TLS certificate is not trusted" in result.stderr
