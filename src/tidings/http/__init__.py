"""HTTP surfaces on the main port: the Pusher HTTP API, health, hints."""
