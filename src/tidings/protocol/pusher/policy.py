"""What a Pusher session needs to know about its app: credentials, flags and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SessionPolicy"]


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    """An app's credentials, flags and limits as one session needs them (built by the shell)."""

    key: str
    secret: str = field(repr=False)
    client_events: bool
    # Verifies too, during a rotation's grace period.
    previous_secret: str | None = field(default=None, repr=False)
    max_client_event_bytes: int = 10 * 1024
    max_subscriptions: int = 300
    max_member_info_bytes: int = 2048
    max_event_name_length: int = 200
    max_presence_members: int = 100  # enforced by the core, carried here for messages
    max_client_events_per_second: int = 10  # 0: no limit

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets a signature may be made with: the current one, then the previous."""
        if self.previous_secret is None:
            return (self.secret,)
        return (self.secret, self.previous_secret)
