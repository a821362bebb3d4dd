"""What every connection's protocol does with its transport when the connection ends."""

from __future__ import annotations

import asyncio

__all__ = ["break_transport_cycle", "socket_transport"]


def socket_transport(transport: asyncio.BaseTransport) -> asyncio.BaseTransport:
    """The TCP transport under ``transport`` (itself, unless it is TLS).

    Under TLS the SSL protocol forgets its socket transport before the
    application's protocol hears of the loss: find it while it is known.
    """
    inner = getattr(getattr(transport, "_ssl_protocol", None), "_transport", None)
    return inner or transport


def break_transport_cycle(transport: asyncio.BaseTransport) -> None:
    """Drop the bound method a CPython 3.11 socket transport keeps of itself.

    ``_SelectorSocketTransport._read_ready_cb`` makes every TCP transport a
    reference cycle that outlives the connection until a full collection
    (``tidings.server.collector`` never runs one over old objects). Nothing reads
    from a transport once its connection is lost. Transports without the
    attribute (uvloop's, later CPythons') are left alone.
    """
    state = getattr(transport, "__dict__", {})
    if "_read_ready_cb" in state:
        state["_read_ready_cb"] = None
