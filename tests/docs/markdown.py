"""Fenced code blocks of the README and docs/*.md, with the markers the docs test reads.

Conventions (also in docs/contributing-docs.md):

- ```` ```sh ```` / ```` ```bash ````, ```` ```python ```` and ```` ```toml ```` blocks are run by
  ``tests/docs/test_examples.py``; ``js``, ``yaml``, ``ini``, ``nginx`` and unlabelled blocks
  (output, listings) are not.
- ``<!-- docs-test: skip REASON -->`` on the line before a block keeps it from being run; the
  reason is required and says why (e.g. "starts a server in the foreground").
- ``<!-- docs-test: tls -->`` anywhere in a file runs that file's examples against a server
  with a self-signed certificate whose ``cert.pem`` / ``key.pem`` lie in the working directory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DOC_FILES", "RUN_LANGUAGES", "ROOT", "Block", "blocks", "uses_tls"]

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
RUN_LANGUAGES = frozenset({"sh", "bash", "python", "toml"})

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<lang>[\w-]*)\s*$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b\s*(?P<reason>.*?)\s*-->\s*$")
_TLS = re.compile(r"<!--\s*docs-test:\s*tls\s*-->")


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block: where it is, its language, its text (dedented) and a skip reason."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    skip: str | None  # None: run it; "": a skip marker without a reason

    @property
    def where(self) -> str:
        """``docs/x.md:12``, for test ids and failure messages."""
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of ``path`` in order; indented fences (in list items) included."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent = len(opening["indent"])
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not re.match(r"^\s*```\s*$", lines[end]):
            body.append(lines[end][indent:])
            end += 1
        previous = lines[index - 1] if index > 0 else ""
        marker = _SKIP.match(previous)
        skip = marker["reason"] if marker else None
        found.append(Block(path, index + 1, opening["lang"], "\n".join(body) + "\n", skip))
        index = end + 1
    return found


def uses_tls(path: Path) -> bool:
    """Whether the file asks for a TLS server (``<!-- docs-test: tls -->``)."""
    return _TLS.search(path.read_text(encoding="utf-8")) is not None
