"""PieSocket's REST publish: ``POST /api/publish`` ``{"key", "secret", "channelId", "message"}``.

``message`` is ``{"event", "data", "meta"}`` (or a JSON string holding one). It goes
through the same hub as everything else, so v3 clients on ``channelId`` get it as sent
and Pusher clients on the channel of the same name get ``event`` with ``data``.
Rejections are ``{"error", "hint"}`` JSON (401 for a wrong key or secret, 400 for a bad
body), rendered by the main port's one error renderer.
"""

from __future__ import annotations

import hmac
from typing import Any

import orjson

from tidings.domain.messages import Publication
from tidings.errors import AuthError, LimitError, TidingsError
from tidings.http.router import Api, Route
from tidings.protocol.http_request import Request
from tidings.protocol.piesocket.codec import RESERVED_PREFIXES, channel_problem
from tidings.typing import ChannelName
from tidings.web.reply import Reply, json_reply

__all__ = ["routes"]

_SHAPE = '{"key", "secret", "channelId", "message": {"event", "data", "meta"}}'


def _object(value: Any, what: str) -> dict[str, Any]:
    if isinstance(value, str):  # PieSocket's own examples send JSON.stringify(message)
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            pass
    if not isinstance(value, dict):
        raise TidingsError(f"{what} must be a JSON object", hint=f"send {_SHAPE}")
    return value


async def publish(request: Request, api: Api) -> Reply:
    """Publish one message to a channel of the app whose key and secret are given."""
    node = api.state.node
    try:
        body = orjson.loads(request.body)
    except orjson.JSONDecodeError as exc:
        raise TidingsError(
            f"request body is not valid JSON: {exc}", hint=f"send {_SHAPE}"
        ) from None
    body = _object(body, "the request body")
    key, secret = body.get("key"), body.get("secret")
    if not isinstance(key, str) or not isinstance(secret, str):
        raise AuthError("key and secret are required strings", hint=f"send {_SHAPE}")
    app = await node.apps.by_key(key)
    if app is None or not any(
        hmac.compare_digest(secret.encode(), s.encode()) for s in app.secrets
    ):
        raise AuthError(
            "Invalid key or secret",
            hint="use the app key and secret shown by `tidings serve` or `tidings snippet env`",
        )
    if not app.enabled:
        raise AuthError(f"app {app.id} is disabled", hint="enable the app to publish")
    channel = body.get("channelId")
    if not isinstance(channel, str):
        raise TidingsError("channelId is required and must be a string", hint=f"send {_SHAPE}")
    problem = channel_problem(channel)
    if problem is not None:
        raise TidingsError(problem, hint="PieSocket channel ids are [A-Za-z0-9_-]{1,30}")
    message = _object(body.get("message"), "message")
    event = message.get("event")
    if not isinstance(event, str) or not event:
        raise TidingsError('message needs a non-empty string "event"', hint=f"send {_SHAPE}")
    if event.startswith(RESERVED_PREFIXES):
        raise TidingsError(
            f"event name {event[:60]!r} is reserved",
            hint=f"do not start event names with {', '.join(RESERVED_PREFIXES)}",
        )
    data = orjson.dumps(message.get("data")).decode()
    if len(data) > app.max_payload_bytes:
        raise LimitError(
            f"message data is {len(data)} bytes, the limit is {app.max_payload_bytes}",
            hint="send less data or raise the app's max_payload_bytes",
        )
    meta = orjson.dumps(message.get("meta")).decode()
    api.limits.charge_events(app, 1)
    await node.publish(Publication(app.id, ChannelName(channel), event, data, meta=meta))
    return json_reply({"success": True})


def routes() -> list[Route]:
    """PieSocket's REST API."""
    return [Route(frozenset(("POST",)), "/api/publish", publish)]
