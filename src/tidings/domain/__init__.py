"""The domain: value types every layer shares (messages, lifecycle events, channel rules).

Nothing here does I/O or knows a wire protocol.
"""
