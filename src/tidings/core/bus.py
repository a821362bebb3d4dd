"""A synchronous event bus for lifecycle events (``tidings.domain.events``).

The node emits each event once, when it happens; the bus calls every listener
of that event type in the order they were added, synchronously, before
``emit`` returns. A listener must not block: one that needs I/O queues the work
(webhooks put events on a bounded queue). A listener that raises is logged and
the others still run; the core never sees the error.

Cost: with no listener for a type, ``emit`` is one dictionary miss. Callers on
busy paths test :meth:`EventBus.wants` first so they do not even build the
event (centrifuge's handlers are likewise nil unless set).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import structlog

from tidings.domain.events import EVENT_TYPES, Event

__all__ = ["EventBus", "Listener"]

_E = TypeVar("_E", bound=Event)
Listener = Callable[[Any], None]
"""A callable taking one event; called synchronously, must not block."""

log = structlog.get_logger(__name__)


class EventBus:
    """Listeners by event type; ``emit`` calls them in order."""

    __slots__ = ("_listeners",)

    def __init__(self) -> None:
        self._listeners: dict[type[Event], tuple[Listener, ...]] = {}

    @overload
    def on(self, event: type[_E], listener: Callable[[_E], None]) -> Callable[[], None]: ...

    @overload
    def on(self, event: str, listener: Listener) -> Callable[[], None]: ...

    def on(self, event: Any, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every event of this type from now on.

        Args:
            event: an event type (``MemberAdded``) or its name (``"member_added"``).
            listener: called synchronously with the event; must not block.

        Returns:
            A function that removes the listener again.

        Raises:
            ValueError: an unknown event name (the message lists the known ones).
        """
        kind = self._type(event)
        self._listeners[kind] = (*self._listeners.get(kind, ()), listener)

        def remove() -> None:
            rest = tuple(fn for fn in self._listeners.get(kind, ()) if fn is not listener)
            if rest:
                self._listeners[kind] = rest
            else:
                self._listeners.pop(kind, None)

        return remove

    def wants(self, kind: type[Event]) -> bool:
        """Whether anyone listens to ``kind`` (so building the event is worth it)."""
        return kind in self._listeners

    def emit(self, event: Event) -> None:
        """Call every listener of ``event``'s type. Never raises."""
        listeners = self._listeners.get(type(event))
        if listeners is None:
            return
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("event listener raised", event_type=event.name)

    @staticmethod
    def _type(event: type[Event] | str) -> type[Event]:
        if not isinstance(event, str):
            return event
        kind = EVENT_TYPES.get(event)
        if kind is None:
            known = ", ".join(sorted(EVENT_TYPES))
            raise ValueError(f"unknown event {event!r}; known events: {known}")
        return kind
