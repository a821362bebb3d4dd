"""Channel history on Redis: one Lua script per kept publication, streams to read back.

Per channel (``tidings.broker.redis_keys``, all in the channel's hash slot):

- ``p:hist:{a:c}``: a Redis stream of the last ``history_size`` publications
  (``XADD MAXLEN`` exact), entry id ``<serial>-0``, fields ``p`` (the payload,
  ``redis_codec``) and ``t`` (published at, Unix ms, Redis's clock); it expires
  ``history_ttl`` seconds after the last publication.
- ``p:hist-meta:{a:c}``: a hash with ``serial``, ``stream_id`` and, per
  publishing node, the last sequence number it kept (so a batch re-sent after a
  failure is not kept twice); it expires :data:`POSITION_TTL` after the last
  publication (at least ``history_ttl``).

Why a stream rather than a list: the entry id IS the serial, so "everything
after serial N" is one ``XRANGE`` from ``N+1`` (O(log n + k)) whatever was
trimmed, with no index arithmetic against a moving head; ``XADD MAXLEN`` trims
in the same command. A list would need the head serial to turn N into an
index, and LTRIM as a second command.

``history_publish.lua`` increments the serial (minting the stream id when the
channel has none), appends, sets both TTLs, stores a cache channel's last
event and PUBLISHes ``h<serial>:<stream_id>:<ms>:<payload>`` on the channel's
pub/sub channel: all in one atomic script, so every node sees serials in
order and each serial once. Payloads without the ``h`` prefix (JSON arrays)
are the messages that keep no history.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from importlib import resources
from typing import Any, Final

from redis.commands.core import AsyncScript

from tidings.broker.memory_history import new_stream_id
from tidings.broker.redis_codec import decode_message
from tidings.broker.redis_keys import channel_key
from tidings.domain.history import NO_STREAM, HistoryPage, Retention, StreamPosition
from tidings.domain.messages import Publication

__all__ = [
    "KEPT_MARK",
    "KeptSend",
    "POSITION_TTL",
    "RedisHistory",
    "decode_kept",
]

#: First byte of a kept publication's pub/sub payload.
KEPT_MARK: Final = b"h"
#: Seconds a channel's position outlives its last publication (one day), so a
#: client of a quiet channel still recovers (it missed nothing).
POSITION_TTL: Final = 86_400


def _script() -> str:
    return resources.files("tidings.broker").joinpath("redis_lua/history_publish.lua").read_text()


def decode_kept(raw: bytes) -> tuple[str, int, Publication]:
    """Origin, sequence number and the publication of an ``h...`` pub/sub payload.

    Raises:
        ValueError: not such a payload.
    """
    try:
        serial_text, stream_id, ms_text, payload = raw[1:].split(b":", 3)
        serial, ms = int(serial_text), int(ms_text)
    except ValueError:
        raise ValueError(f"not a kept publication: {raw[:80]!r}") from None
    origin, seq, message = decode_message(payload)
    if type(message) is not Publication:
        raise ValueError(f"not a kept publication: {raw[:80]!r}")
    return (
        origin,
        seq,
        replace(message, serial=serial, stream_id=stream_id.decode(), published_at_ms=ms),
    )


@dataclass(frozen=True, slots=True)
class KeptSend:
    """A queued kept publication: the publish script's KEYS and ARGV, for the outbox."""

    keys: list[str]
    args: list[bytes | str | int]
    history: RedisHistory

    def add_to(self, pipe: Any) -> None:
        """Queue the script call on a pipeline (loaded by ``ensure_loaded``; on a Redis
        Cluster sent whole, so no node can lack it)."""
        history = self.history
        if history.clustered:
            pipe.eval(history.script.script, len(self.keys), *self.keys, *self.args)
        else:
            pipe.evalsha(history.script.sha, len(self.keys), *self.keys, *self.args)


class RedisHistory:
    """The history commands of one broker: the publish script's arguments and the reads.

    Args:
        redis: the broker's command client.
        prefix: the namespace of every key.
    """

    def __init__(self, redis: Any, prefix: str, *, clustered: bool = False) -> None:
        self._redis = redis
        self._prefix = prefix
        #: A Redis Cluster: the script SPUBLISHes (sharded pub/sub) and is sent whole.
        self.clustered = clustered
        self.script: AsyncScript = redis.register_script(_script())
        #: Whether Redis has the script; cleared after a failed send (a restarted
        #: Redis lost it), so the next batch loads it again.
        self.loaded = False

    def send(
        self,
        pub: Publication,
        keep: Retention,
        payload: bytes,
        *,
        origin: str,
        seq: int,
        pubsub_channel: bytes,
        cache_ttl: int,
    ) -> KeptSend:
        """The script call that keeps ``pub`` with ``keep`` and publishes it."""
        stream = channel_key(self._prefix, "hist", pub.app_id, pub.channel)
        meta = channel_key(self._prefix, "hist-meta", pub.app_id, pub.channel)
        last = channel_key(self._prefix, "cache", pub.app_id, pub.channel) if pub.cache else stream
        args: list[bytes | str | int] = [
            payload,
            keep.size,
            keep.ttl,
            new_stream_id(),
            max(POSITION_TTL, keep.ttl),
            origin,
            seq,
            pubsub_channel,
            cache_ttl if pub.cache else "",
            "1" if self.clustered else "",
        ]
        return KeptSend([stream, meta, last], args, self)

    async def ensure_loaded(self) -> None:
        """Load the script into Redis unless it is known to be there."""
        if not self.loaded and not self.clustered:
            await self._redis.script_load(self.script.script)
            self.loaded = True

    async def read(self, app_id: str, channel: str, after_serial: int, limit: int) -> HistoryPage:
        """``Broker.history``: the position and the events after ``after_serial`` up to it."""
        stream = channel_key(self._prefix, "hist", app_id, channel)
        meta = channel_key(self._prefix, "hist-meta", app_id, channel)
        # One MULTI/EXEC on a Redis server; a Cluster has no MULTI across its client's
        # pipeline, so there events newer than the position read are cut below.
        async with self._redis.pipeline(transaction=not self.clustered) as pipe:
            pipe.hmget(meta, "serial", "stream_id")
            if limit > 0:
                pipe.xrange(stream, f"{after_serial + 1}-0", "+", count=limit)
            replies: list[Any] = await pipe.execute()
        serial_raw, stream_raw = replies[0]
        if stream_raw is None:
            return HistoryPage(StreamPosition(0, NO_STREAM), (), True)
        stream_id = stream_raw.decode() if isinstance(stream_raw, bytes) else str(stream_raw)
        position = StreamPosition(int(serial_raw or 0), stream_id)
        events = []
        for entry_id, fields in replies[1] if limit > 0 else ():
            serial = int(entry_id.split(b"-", 1)[0])
            if serial > position.serial:
                break  # kept after the position was read: not part of this page
            try:
                message = decode_message(fields[b"p"])[2]
            except (KeyError, ValueError):
                continue  # not ours: skip it rather than fail the read
            if type(message) is not Publication:
                continue
            published = int(fields.get(b"t", 0))
            events.append(
                replace(message, serial=serial, stream_id=stream_id, published_at_ms=published)
            )
        if events:
            complete = events[0].serial == after_serial + 1
        else:  # nothing kept after it: whole only if nothing was published after it
            complete = after_serial >= position.serial
        return HistoryPage(position, tuple(events), complete)
