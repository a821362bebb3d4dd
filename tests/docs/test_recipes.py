"""The container recipes and install commands, checked as far as this machine allows.

No container engine runs here, so the Dockerfile and docker-compose.yml cannot be built or
started by the tests (docs/cluster.md says so). What is checked instead: they build from the
repository, run unprivileged with a health check, the compose file brings Redis, and no doc,
recipe or error message tells anyone to ``pip install`` tidings from the package index, where
no release exists (DESIGN.md 7.6).
"""

from __future__ import annotations

import re

from tests.docs.markdown import DOC_FILES, ROOT

DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "docker-compose.yml"
# `pip install tidings`, `'tidings[redis]'`, `tidings==0.1`: by name, so from the index.
_FROM_INDEX = re.compile(
    r"pip install\b[^\n`]*?(?<![./\w-])['\"]?tidings(?:\[[\w,]+\])?['\"]?(?:[=<>~]|\s|$|`)"
)


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    result = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def test_dockerfile_builds_from_the_checkout_runs_unprivileged_with_a_health_check() -> None:
    """COPY of the source then `pip install` of it; USER is not root; HEALTHCHECK hits /ready."""
    steps = _instructions(DOCKERFILE.read_text())
    kinds = [kind for kind, _ in steps]
    assert kinds[0] == "FROM"
    copies = [args for kind, args in steps if kind == "COPY"]
    assert any(args.startswith("src ") for args in copies)
    assert any("pyproject.toml" in args for args in copies)
    install = next(args for kind, args in steps if kind == "RUN" and "pip install" in args)
    assert "'.[redis]'" in install and "-c constraints.txt" in install
    users = [args for kind, args in steps if kind == "USER"]
    assert users and users[-1] not in ("root", "0")
    assert kinds.index("USER") > kinds.index("RUN")  # the install runs as root, the server not
    health = next(args for kind, args in steps if kind == "HEALTHCHECK")
    assert "/ready" in health
    assert steps[-1] == ("CMD", '["tidings", "serve"]')


def test_compose_file_runs_redis_and_nodes_built_here() -> None:
    """Redis with a health check, nodes built from `.`, sharing it, each with its own id."""
    text = COMPOSE.read_text()
    assert re.search(r"^  redis:\n    image: redis:", text, re.M)
    assert "redis-cli" in text
    assert text.count("build: .") == 1  # tidings-2 inherits it through the YAML anchor
    assert "<<: *tidings" in text
    assert "TIDINGS_BROKER_URL: redis://redis:6379/0" in text
    assert re.findall(r"TIDINGS_NODE_ID: (\S+)", text) == ["tidings-1", "tidings-2"]
    assert "condition: service_healthy" in text
    assert "image: python" not in text  # nothing installed at container start


def test_nothing_installs_tidings_from_the_package_index() -> None:
    """Docs, recipes and messages install from a checkout (`pip install .`), never by name."""
    code = [*sorted((ROOT / "src").rglob("*.py")), *sorted((ROOT / "benchmarks").rglob("*.py"))]
    code = [path for path in code if "node_modules" not in path.parts]  # the baselines' npm deps
    sources = [*DOC_FILES, DOCKERFILE, COMPOSE, *code]
    offenders = []
    for path in sources:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _FROM_INDEX.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_the_index_pattern_catches_what_it_should() -> None:
    """The guard above is not vacuous: it flags installs by name and passes installs by path."""
    assert _FROM_INDEX.search("pip install tidings")
    assert _FROM_INDEX.search("pip install 'tidings[redis]' && tidings serve")
    assert _FROM_INDEX.search("`pip install tidings==0.1.0`")
    assert not _FROM_INDEX.search("pip install '.[redis]'")
    assert not _FROM_INDEX.search("pip install /src")
    assert not _FROM_INDEX.search("pip install pusher")
    assert not _FROM_INDEX.search("pip install git+https://example.com/tidings.git")
