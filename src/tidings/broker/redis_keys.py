"""Redis key and pub/sub channel names: the one place the cluster's layout is written.

Everything that belongs to one channel of one app carries the hash tag
``{app:channel}`` (channel names cannot contain ``:``, ``{`` or ``}``):

- ``p:pub:{a:c}``            the channel's pub/sub channel (``SPUBLISH`` on Redis Cluster);
- ``p:cache:{a:c}``          a cache channel's last event;
- ``p:hist:{a:c}``           the channel's history (events kept for recovery);
- ``p:hist-meta:{a:c}``      the history's position: ``serial`` and ``stream_id``;
- ``p:presence:{a:c}``, ``p:presence-users:{a:c}``, ``p:presence-info:{a:c}``  presence;
- ``p:wh:occ:{a:c}``         the nodes where the channel is occupied (webhooks).

Why a tag: Redis Cluster hashes only the text between the first ``{`` and the
next ``}``, so all of a channel's keys and its sharded pub/sub channel share one
slot, and one Lua script may touch them all (store a publication in the history,
bump its serial and publish it, atomically). The sharded engine picks a channel's
Redis server from the same (app, channel) pair, so the layout is the same with one
Redis, several, or a Cluster.

Keys that belong to no channel (node heartbeats, the control channel, webhook
logs, cluster-wide counts) keep plain names (``p:nodes``, ``p:node:<id>``); with
several shards they live on the first one.
"""

from __future__ import annotations


def channel_tag(app_id: str, channel: str) -> str:
    """The hash tag every key of ``channel`` carries: ``{app_id:channel}``."""
    return "{" + app_id + ":" + channel + "}"


def channel_key(prefix: str, kind: str, app_id: str, channel: str) -> str:
    """The name of the ``kind`` key (``pub``, ``cache``, ``hist``, ...) of one channel.

    Args:
        prefix: the namespace of every key (``tidings`` unless configured).
        kind: what the key holds; one of the names in this module's docstring.
        app_id: the app the channel belongs to.
        channel: the channel's name.
    """
    return f"{prefix}:{kind}:{channel_tag(app_id, channel)}"
