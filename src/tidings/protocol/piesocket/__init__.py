"""PieSocket WebSocket API v3, sans I/O: codec, JWT check and per-connection session."""

from __future__ import annotations
