"""Pusher webhooks: every event type, batched per app and URL, signed, retried, logged.

``payloads`` (Pusher's shapes, signing) and ``delivery`` / ``batcher`` (the
schedule and the bound) are pure; ``service`` runs them on one node, ``sender``
does the HTTP, ``store`` keeps deliveries (memory, or Redis through
``redis_store`` so that they outlive a node) and ``cluster`` adds what a
cluster needs. ``docs/webhooks.md`` is the user's view.
"""
