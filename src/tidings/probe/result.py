"""One line per check: what was checked, how it went, and the fix when it failed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

__all__ = ["Result", "Status", "render"]


class Status(Enum):
    """How a check went; only ``FAIL`` makes the command exit non-zero."""

    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True, slots=True)
class Result:
    """A check's outcome.

    Args:
        name: the check, one short word (``ready``, ``round-trip``).
        status: how it went.
        detail: what was seen, with figures.
        fix: what to do about a ``FAIL`` or ``WARN`` (empty otherwise).
    """

    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self, width: int) -> str:
        """``status  name  detail[; fix: ...]`` as one line."""
        text = f"{self.status.value:<5} {self.name:<{width}}  {self.detail}"
        return f"{text}; fix: {self.fix}" if self.fix else text


def render(results: Iterable[Result]) -> list[str]:
    """The lines of a report, names aligned."""
    items = list(results)
    width = max((len(r.name) for r in items), default=0)
    return [r.line(width) for r in items]
