"""The I/O shell: WebSocket endpoints, write coalescing, keepalive, the runner."""
