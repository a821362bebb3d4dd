"""Pusher Channels protocol v7: codec and per-connection session."""
