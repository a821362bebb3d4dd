"""Every shell, Python and TOML example in the README and docs/*.md runs as written.

Each documentation file gets a real server on a free port (with a self-signed certificate
when the file asks for TLS); ``6001`` in its examples is replaced by that port, which is
the only edit made to them. The shell blocks of a file run in order in one ``bash`` (so a
later block can use a function or variable an earlier one defined), with ``set -euo
pipefail``, the venv's ``tidings`` on ``PATH`` (and as ``.venv/bin/tidings``: the working
directory links ``.venv`` as a checkout has it) and ``curl`` failing on an HTTP error. Each
Python block runs in a fresh interpreter; each TOML block must load as a configuration
without warnings. Blocks that cannot run here carry ``<!-- docs-test: skip REASON -->``:
see :mod:`tests.docs.markdown` for the conventions.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.docs.markdown import DOC_FILES, ROOT, Block, blocks, uses_tls
from tests.fixtures.tls import self_signed
from tidings.config import ENV_PREFIX, Settings
from tidings.server.runner import RunningServer, start_server

_BIN = Path(sys.executable).parent
_RUN_TIMEOUT_S = 60
_SHELL = ("sh", "bash")
_PRELUDE = """\
set -euo pipefail
# An HTTP error status fails the example, as a reader would notice it.
curl() { command curl --fail-with-body --silent --show-error "$@"; }
"""


def _runnable(*langs: str) -> list[Block]:
    return [b for path in DOC_FILES for b in blocks(path) if b.lang in langs and b.skip is None]


_SHELL_FILES = sorted({block.path for block in _runnable(*_SHELL)})
_PYTHON_BLOCKS = _runnable("python")
_TOML_BLOCKS = _runnable("toml")


class DocServer:
    """The server one documentation file's examples talk to, and where they run."""

    def __init__(self, running: RunningServer, workdir: Path) -> None:
        self.running = running
        self.workdir = workdir

    def adapt(self, code: str) -> str:
        """The example with the documented port replaced by this server's port."""
        return re.sub(r"\b6001\b", str(self.running.port), code)

    def env(self) -> dict[str, str]:
        """A user's environment: no TIDINGS_* of the test session, the venv's tidings first."""
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(ENV_PREFIX)}
        env["PATH"] = f"{_BIN}{os.pathsep}{env.get('PATH', '')}"
        # `tidings trigger` and friends find the server as a user's shell would tell them.
        env["TIDINGS_HTTP_PORT"] = str(self.running.port)
        return env

    async def run(self, argv: list[str]) -> tuple[int, str]:
        """Run ``argv`` in the working directory; (exit code, stdout + stderr)."""
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=self.workdir,
            env=self.env(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        try:
            output, _ = await asyncio.wait_for(proc.communicate(), _RUN_TIMEOUT_S)
        finally:
            if proc.returncode is None:
                proc.kill()  # our own child, by its PID
                await proc.wait()
        assert proc.returncode is not None
        return proc.returncode, output.decode(errors="replace")


@asynccontextmanager
async def doc_server(path: Path, workdir: Path) -> AsyncIterator[DocServer]:
    """A server on a free port for the examples of ``path`` (TLS if the file asks)."""
    # As in a checkout after `make venv`: `.venv/bin/tidings` works from the working directory.
    (workdir / ".venv").symlink_to(_BIN.parent)
    # The app database is the one `tidings apps …` of the examples writes: tidings.sqlite3 in
    # their working directory, so an app they create or import is served (docs/migrating.md).
    overrides: dict[str, Any] = {
        "http_port": 0,
        "admin_port": 0,
        "shutdown_grace_period": 0.5,
        "database_url": f"sqlite:///{workdir}/tidings.sqlite3",
    }
    if uses_tls(path):
        cert, key = self_signed(workdir)
        overrides |= {"tls_cert": cert, "tls_key": key}
    running = await start_server(Settings.load(**overrides))
    try:
        yield DocServer(running, workdir)
    finally:
        await running.shutdown()


@pytest.mark.parametrize("path", _SHELL_FILES, ids=[str(p.relative_to(ROOT)) for p in _SHELL_FILES])
async def test_shell_examples_run(path: Path, tmp_path: Path) -> None:
    """A file's shell blocks, in order in one bash, exit 0 against a real server."""
    async with doc_server(path, tmp_path) as server:
        script = [_PRELUDE]
        for block in _runnable(*_SHELL):
            if block.path == path:
                script.append(f"echo '>>> {block.where}' >&2\n{server.adapt(block.code)}")
        code, output = await server.run(["bash", "-c", "\n".join(script)])
    assert code == 0, f"a shell example failed (the last '>>>' line names it):\n{output}"


@pytest.mark.parametrize("block", _PYTHON_BLOCKS, ids=[b.where for b in _PYTHON_BLOCKS])
async def test_python_examples_run(block: Block, tmp_path: Path) -> None:
    """A Python block exits 0 in a fresh interpreter, against a real server."""
    async with doc_server(block.path, tmp_path) as server:
        code, output = await server.run([sys.executable, "-c", server.adapt(block.code)])
    assert code == 0, f"{block.where} failed:\n{output}"


@pytest.mark.parametrize("block", _TOML_BLOCKS, ids=[b.where for b in _TOML_BLOCKS])
def test_toml_examples_load(block: Block, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TOML block is a configuration file that loads without a warning."""
    for name in list(os.environ):
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    config = tmp_path / "tidings.toml"
    config.write_text(block.code)
    assert Settings.load(config).warnings == []


def test_every_skip_marker_gives_a_reason() -> None:
    """`<!-- docs-test: skip -->` without a reason is refused: say why it cannot run."""
    bare = [b.where for path in DOC_FILES for b in blocks(path) if b.skip == ""]
    assert bare == []


def test_something_is_run_from_every_kind() -> None:
    """The extraction finds examples (a broken fence parser would make every test vacuous)."""
    assert len(_SHELL_FILES) >= 3
    assert len(_PYTHON_BLOCKS) >= 3
    assert _TOML_BLOCKS
