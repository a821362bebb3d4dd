"""The WebSocket I/O shell: one endpoint for every wire, write coalescing, keepalive."""
