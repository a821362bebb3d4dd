"""The unit tests mirror ``src/tidings/`` path by path, so a module's tests are found by its
path (and a test left behind by a move or a rename fails here)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "tests" / "unit"
MIRRORED = {"tidings": ROOT / "src" / "tidings", "benchmarks": ROOT / "benchmarks"}


def _modules(package: Path) -> set[str]:
    return {p.stem.lstrip("_") for p in package.glob("*.py")} | {
        p.name for p in package.iterdir() if (p / "__init__.py").is_file()
    }


def test_every_unit_test_names_the_module_it_tests() -> None:
    misplaced = []
    for test in sorted(UNIT.rglob("test_*.py")):
        relative = test.parent.relative_to(UNIT)
        if relative.parts[:1] == ("benchmarks",):
            source = MIRRORED["benchmarks"].joinpath(*relative.parts[1:])
        else:
            source = MIRRORED["tidings"].joinpath(*relative.parts)
        name = test.stem.removeprefix("test_")
        if test == Path(__file__).resolve() or relative.parts[:1] == ("benchmarks",):
            ok = source.is_dir()
        else:
            ok = source.is_dir() and any(
                name == module or name.startswith(f"{module}_") for module in _modules(source)
            )
        if not ok:
            misplaced.append(str(test.relative_to(ROOT)))
    assert misplaced == [], (
        "unit tests must sit at tests/unit/<package path>/test_<module>[_topic].py "
        f"for src/tidings/<package path>/<module>.py: {misplaced}"
    )
