"""Sans-I/O half of the client: builds signed requests and reads replies.

:class:`Call` is one HTTP API request, already signed, plus the function that
turns its JSON reply into the method's result. The sync and async clients
only send it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode, urlsplit

import orjson

from tidings.client.auth import channel_authorization, user_authentication
from tidings.client.errors import ClientError, ServerError, error_for_status
from tidings.protocol.signing import body_md5, sign_request

__all__ = ["Api", "Call", "ChannelHistory", "ChannelInfo", "read_reply"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """``GET /apps/{id}/channels/{name}``: counts are ``None`` when not requested."""

    occupied: bool
    user_count: int | None = None
    subscription_count: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelHistory:
    """``GET /apps/{id}/channels/{name}/history``.

    Attributes:
        stream_id, serial: the channel's current position.
        events: ``{"serial", "event", "data", "published_at_ms"}`` each, oldest first.
        complete: nothing after the requested serial was dropped before ``events[0]``.
    """

    stream_id: str
    serial: int
    events: list[dict[str, Any]]
    complete: bool


def _history(value: Any) -> ChannelHistory:
    return ChannelHistory(
        stream_id=str(value.get("stream_id", "")),
        serial=int(value.get("serial", 0)),
        events=[dict(event) for event in value.get("events", [])],
        complete=bool(value.get("complete")),
    )


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One signed request and how to read its reply."""

    method: str
    url: str
    body: bytes
    parse: Callable[[Any], T]

    @property
    def headers(self) -> dict[str, str]:
        """Request headers: JSON for bodies."""
        return {"Content-Type": "application/json"} if self.body else {}


def read_reply(call: Call[T], status: int, body: bytes) -> T:
    """The result of ``call`` from the server's reply.

    Raises:
        ClientError: the subclass for ``status``, with the server's error and hint.
    """
    try:
        value = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        value = None
    if 200 <= status < 300:
        if value is None:
            raise ServerError(f"the reply is not JSON: {body[:200]!r}", status=status)
        return call.parse(value)
    if isinstance(value, dict) and isinstance(value.get("error"), str):
        raise error_for_status(status, value["error"], str(value.get("hint", "")))
    text = body.decode(errors="replace").strip()[:500]
    raise error_for_status(status, text or f"HTTP {status}", "")


def _info(info: Iterable[str]) -> str:
    return ",".join(info)


def _data(data: Any) -> str:
    return data if isinstance(data, str) else orjson.dumps(data).decode()


def _attributes(value: Any) -> dict[str, dict[str, int]]:
    channels = value.get("channels", {}) if isinstance(value, dict) else {}
    return {str(k): dict(v) for k, v in channels.items()}


def _batch(value: Any) -> list[dict[str, int]]:
    batch = value.get("batch", []) if isinstance(value, dict) else []
    return [dict(item) for item in batch]


def _channel(value: Any) -> ChannelInfo:
    return ChannelInfo(
        occupied=bool(value.get("occupied")),
        user_count=value.get("user_count"),
        subscription_count=value.get("subscription_count"),
    )


def _users(value: Any) -> list[str]:
    return [str(user["id"]) for user in value.get("users", [])]


def _nothing(value: Any) -> None:
    return None


class Api:
    """Builds the signed calls of one app's HTTP API.

    Args:
        app_id, key, secret: the app's credentials.
        url: the server's base URL (``http://127.0.0.1:6001``); a path in it
            (a proxy prefix) is part of every signed path.
    """

    def __init__(self, app_id: str, key: str, secret: str, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ClientError(f"{url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:6001")
        self.app_id = app_id
        self.key = key
        self._secret = secret
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._base_path = parts.path.rstrip("/")

    def call(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], T],
        *,
        query: Mapping[str, str] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Call[T]:
        """Sign ``method path`` (relative to the base URL) with ``query`` and a JSON ``body``."""
        raw = orjson.dumps(body) if body is not None else b""
        params = {
            **(query or {}),
            "auth_key": self.key,
            "auth_timestamp": str(int(time.time())),
            "auth_version": "1.0",
        }
        if raw:
            params["body_md5"] = body_md5(raw)
        full_path = self._base_path + path
        params["auth_signature"] = sign_request(self._secret, method, full_path, params)
        return Call(method, f"{self._origin}{full_path}?{urlencode(params)}", raw, parse)

    # -- auth answers (no I/O) ------------------------------------------------------

    def authenticate_user(self, socket_id: str, user_data: Mapping[str, Any]) -> dict[str, str]:
        """See :func:`tidings.client.auth.user_authentication`."""
        return user_authentication(self.key, self._secret, socket_id, user_data)

    def authorize_channel(
        self, socket_id: str, channel: str, user_data: Mapping[str, Any] | None
    ) -> dict[str, str]:
        """See :func:`tidings.client.auth.channel_authorization`."""
        return channel_authorization(self.key, self._secret, socket_id, channel, user_data)

    # -- the API, one builder per endpoint --------------------------------------

    def trigger(
        self,
        channels: str | Sequence[str],
        event: str,
        data: Any,
        *,
        socket_id: str | None = None,
        info: Iterable[str] = (),
    ) -> Call[dict[str, dict[str, int]]]:
        """``POST /apps/{id}/events``."""
        body: dict[str, Any] = {
            "name": event,
            "channels": [channels] if isinstance(channels, str) else list(channels),
            "data": _data(data),
        }
        if socket_id:
            body["socket_id"] = socket_id
        if info_value := _info(info):
            body["info"] = info_value
        return self.call("POST", f"/apps/{self.app_id}/events", _attributes, body=body)

    def trigger_batch(self, events: Sequence[Mapping[str, Any]]) -> Call[list[dict[str, int]]]:
        """``POST /apps/{id}/batch_events``: channel, name, data[, socket_id, info] each."""
        batch = []
        for event in events:
            item = dict(event)
            item["data"] = _data(item.get("data"))
            if not isinstance(item.get("info", ""), str):
                item["info"] = _info(item["info"])
            batch.append(item)
        path = f"/apps/{self.app_id}/batch_events"
        return self.call("POST", path, _batch, body={"batch": batch})

    def channels(
        self, prefix: str | None = None, info: Iterable[str] = ()
    ) -> Call[dict[str, dict[str, int]]]:
        """``GET /apps/{id}/channels``."""
        query = {}
        if prefix:
            query["filter_by_prefix"] = prefix
        if info_value := _info(info):
            query["info"] = info_value
        return self.call("GET", f"/apps/{self.app_id}/channels", _attributes, query=query)

    def channel(self, name: str, info: Iterable[str] = ()) -> Call[ChannelInfo]:
        """``GET /apps/{id}/channels/{name}``."""
        query = {"info": value} if (value := _info(info)) else {}
        return self.call("GET", f"/apps/{self.app_id}/channels/{name}", _channel, query=query)

    def history(
        self, channel: str, *, after_serial: int = 0, limit: int | None = None
    ) -> Call[ChannelHistory]:
        """``GET /apps/{id}/channels/{name}/history``."""
        query = {"after_serial": str(after_serial)} if after_serial else {}
        if limit is not None:
            query["limit"] = str(limit)
        path = f"/apps/{self.app_id}/channels/{channel}/history"
        return self.call("GET", path, _history, query=query)

    def users(self, channel: str) -> Call[list[str]]:
        """``GET /apps/{id}/channels/{name}/users``."""
        return self.call("GET", f"/apps/{self.app_id}/channels/{channel}/users", _users)

    def terminate_user_connections(self, user_id: str) -> Call[None]:
        """``POST /apps/{id}/users/{user_id}/terminate_connections``."""
        path = f"/apps/{self.app_id}/users/{user_id}/terminate_connections"
        return self.call("POST", path, _nothing, body={})
