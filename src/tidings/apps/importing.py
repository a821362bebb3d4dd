"""Soketi and Reverb apps as tidings apps: what a mapping returns, and shared conversions.

``tidings apps import`` reads apps where Soketi or Laravel Reverb keep them (the
readers, :mod:`tidings.apps.import_sources`, are thin) and hands each one, as a
plain mapping, to :func:`tidings.apps.import_soketi.from_soketi` or
:func:`tidings.apps.import_reverb.from_reverb`. Those are pure (no I/O) and return
an :class:`Imported`: the create body of the tidings app (what
``AppManager.create`` takes) and every source field that has no tidings
equivalent, with the reason. Nothing here validates the body beyond the mapping
itself: the app manager does, as for any create.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Imported",
    "Unmappable",
    "Unmapped",
    "as_bool",
    "as_int",
    "is_given",
    "kib_to_bytes",
    "positive",
    "truthy",
]


@dataclass(frozen=True, slots=True)
class Unmapped:
    """A source field (or part of one) that the tidings app does not carry.

    Attributes:
        field: its name in the source (``webhooks[1].lambda_function``).
        value: the value it had.
        reason: why it is left out, and what to do instead when there is something.
    """

    field: str
    value: Any
    reason: str


@dataclass(frozen=True, slots=True)
class Imported:
    """One source app, mapped.

    Attributes:
        values: the create body of the tidings app (``AppManager.create``).
        unmapped: what could not be carried over.
        notes: things that work differently but need no action to import.
        problem: why this app cannot be imported at all (no id, key or secret);
            ``None`` when it can.
    """

    values: dict[str, Any]
    unmapped: tuple[Unmapped, ...] = ()
    notes: tuple[str, ...] = ()
    problem: str | None = None

    @property
    def label(self) -> str:
        """The app's id, or ``?`` when it has none."""
        return str(self.values.get("id") or "?")


# -- value conversions ------------------------------------------------------------------


class Unmappable(Exception):
    """A value that maps to nothing: its message, the reason, becomes an :class:`Unmapped`."""


def as_int(value: Any) -> int:
    """A whole number from a number or its text (``"10"``, ``10.0``).

    Raises:
        Unmappable: anything else (booleans, fractions, text, infinities).
    """
    if isinstance(value, bool):
        raise Unmappable(f"{value!r} is not a number")
    if isinstance(value, str):
        value = value.strip()
    try:
        number = float(value)
        whole = int(number)
    except (TypeError, ValueError, OverflowError):
        raise Unmappable(f"{value!r} is not a number") from None
    if number != whole:
        raise Unmappable(f"{value!r} is not a whole number")
    return whole


def as_bool(value: Any) -> bool:
    """A flag from a boolean, a number (0 is false: MySQL's tinyint) or its text.

    Raises:
        Unmappable: anything else.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise Unmappable(f"{value!r} is not true or false")


def kib_to_bytes(value: Any) -> int:
    """Bytes from a size in KB (KiB, as Soketi counts them).

    Raises:
        Unmappable: not a positive, finite number.
    """
    try:
        kib = float(value)
    except (TypeError, ValueError):
        raise Unmappable(f"{value!r} is not a number of KB") from None
    if not math.isfinite(kib):
        raise Unmappable(f"{value!r} is not a number of KB")
    if kib <= 0:
        raise Unmappable(f"{value!r} KB admits nothing; tidings needs a positive size (left unset)")
    return round(kib * 1024)


def positive(value: Any) -> int:
    """A whole number of 1 or more (a count limit).

    Raises:
        Unmappable: anything else.
    """
    number = as_int(value)
    if number < 1:
        raise Unmappable(f"{number} admits nothing; tidings needs 1 or more (left unset)")
    return number


def is_given(value: Any) -> bool:
    """Whether a source field is set: ``''`` and ``None`` are not (Soketi's
    ``extractFromPassedKeys``, and an unset ``env()`` in Laravel's config)."""
    return value is not None and value != ""


def truthy(value: Any) -> bool:
    """:func:`as_bool`, with anything it refuses taken as false."""
    try:
        return as_bool(value)
    except Unmappable:
        return False
