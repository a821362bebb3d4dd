"""The image build context, as the real `docker build` client makes it from .dockerignore.

No Docker engine runs on this machine, but the client builds the context itself: with
BuildKit off (the legacy builder, which the client also falls back to without buildx) it
tars the directory, leaving out what .dockerignore names, and POSTs the tar to the
engine's ``/build``. A stand-in engine on 127.0.0.1 (the Engine API's ``/_ping`` and
``/build``, nothing else) records that tar, so the test sees exactly what an image builder
would be sent: never the app database, the egg-info or a compose ``.env`` with the secret.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
#: What the Dockerfile copies: it must be sent.
NEEDED = ("Dockerfile", "pyproject.toml", "constraints.txt", "README.md", "src/tidings/__init__.py")
#: Local state and secrets a checkout may hold: never sent.
LEFT_OUT = (
    "src/tidings.egg-info/PKG-INFO",
    "tidings.egg-info/PKG-INFO",
    "tidings.sqlite3",
    "tidings.sqlite3-wal",
    "tidings.sqlite3-shm",
    "tidings.sqlite3-journal",
    "deploy/tidings.sqlite3",
    ".env",
    "tidings.toml",
    ".venv/bin/python",
    "tests/conformance/node/node_modules/ws/index.js",
)


@pytest.fixture
async def engine() -> AsyncIterator[tuple[str, list[list[str]]]]:
    """A stand-in Docker engine: its URL and the file names of each build context sent."""
    contexts: list[list[str]] = []

    async def ping(request: web.Request) -> web.Response:
        return web.Response(text="OK", headers={"API-Version": "1.41", "Ostype": "linux"})

    async def build(request: web.Request) -> web.Response:
        with tarfile.open(fileobj=io.BytesIO(await request.read())) as tar:
            contexts.append([member.name for member in tar.getmembers() if member.isfile()])
        stream = '{"stream":"context received\\n"}\n{"aux":{"ID":"sha256:0"}}\n'
        return web.Response(text=stream, content_type="application/json")

    app = web.Application(client_max_size=256 * 1024 * 1024)
    app.router.add_route("*", "/_ping", ping)
    app.router.add_route("*", "/{version}/_ping", ping)
    app.router.add_post("/{version}/build", build)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"tcp://127.0.0.1:{port}", contexts
    await runner.cleanup()


async def test_build_context_leaves_out_local_state_and_secrets(
    engine: tuple[str, list[list[str]]], tmp_path: Path
) -> None:
    """`docker build` of a checkout holding an app database, egg-info and a compose .env:
    the repository's .dockerignore keeps them (and .venv, node_modules) out of the context,
    while everything the Dockerfile copies goes."""
    docker = shutil.which("docker")
    if docker is None:
        pytest.fail("the docker client is missing: it comes with this machine kind")
    url, contexts = engine
    checkout = tmp_path / "checkout"
    for name in (".dockerignore", "Dockerfile", "pyproject.toml", "constraints.txt", "README.md"):
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, checkout / name)
    for name in (*NEEDED, *LEFT_OUT):
        path = checkout / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.write_text("x\n")
    home = tmp_path / "docker-config"  # no user configuration, no credentials
    home.mkdir()
    env = {**os.environ, "DOCKER_HOST": url, "DOCKER_BUILDKIT": "0", "DOCKER_CONFIG": str(home)}
    process = await asyncio.create_subprocess_exec(
        docker,
        "build",
        "--quiet",
        str(checkout),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (out + err).decode()
    (sent,) = contexts
    assert set(NEEDED) <= set(sent), sorted(sent)
    assert [name for name in LEFT_OUT if name in sent] == []
