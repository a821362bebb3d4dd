"""The test tiers never import each other: what two tiers share lives in tests/support/
(or tests/fixtures/, the shared data), so a tier can move or change alone."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TIERS = {"unit", "contract", "integration", "conformance", "reliability", "docs"}
SHARED = {"support", "fixtures"}


def _tests_imports(path: Path) -> set[str]:
    """The tests.<folder> names ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_no_tier_imports_another() -> None:
    crossing = []
    for path in sorted(TESTS.rglob("*.py")):
        relative = path.relative_to(TESTS)
        if "node_modules" in relative.parts or len(relative.parts) < 2:
            continue
        tier = relative.parts[0]
        if tier in SHARED:
            allowed = SHARED  # shared code imports no tier either
        elif tier in TIERS:
            allowed = SHARED | {tier}
        else:
            continue
        for imported in _tests_imports(path) - allowed:
            crossing.append(f"{relative} imports tests.{imported}")
    assert crossing == [], crossing
