"""The App model and the AppStore seam."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from tidings.typing import AppId, AppKey

__all__ = ["App", "AppStore"]


@dataclass(frozen=True, slots=True)
class App:
    """One tenant: credentials, feature flags and limits (Soketi's defaults).

    ``enable_subscription_count`` sends ``pusher_internal:subscription_count``
    to the subscribers of non-presence channels when their count changes
    (off by default, as on Pusher).

    ``max_client_events_per_second`` is per connection, for ``client-*`` events and
    PieSocket client messages (Pusher's 10; ``0`` means no limit).

    ``max_connections`` of ``None`` means unlimited. An empty
    ``allowed_origins`` accepts any ``Origin``; entries may use ``*`` wildcards.
    """

    id: AppId
    key: AppKey
    secret: str
    name: str = ""
    enabled: bool = True
    enable_client_messages: bool = True
    enable_subscription_count: bool = False
    max_connections: int | None = None
    max_payload_bytes: int = 100 * 1024
    max_client_event_bytes: int = 10 * 1024
    max_channels_per_event: int = 100
    max_batch_size: int = 10
    max_presence_members: int = 100
    max_member_info_bytes: int = 2 * 1024
    max_event_name_length: int = 200
    max_subscriptions_per_connection: int = 300
    max_client_events_per_second: int = 10
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)


class AppStore(Protocol):
    """Where apps are looked up. Lookups are by key (WebSocket) or id (HTTP API)."""

    async def by_key(self, key: str) -> App | None:
        """The app with this key, or ``None``."""

    async def by_id(self, app_id: str) -> App | None:
        """The app with this id, or ``None``."""

    async def all(self) -> list[App]:
        """Every app, in a stable order."""
