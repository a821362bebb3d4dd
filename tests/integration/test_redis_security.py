"""Securing Redis: requirepass, an ACL user limited to tidings' prefix, and TLS, each
against a redis-server this test starts (and stops by PID)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fixtures.tls import self_signed
from tests.integration.conftest import ServerFactory, client, publish
from tests.support.redis import RedisServer
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.redis_url import connection_options, redacted

PASSWORD = "-".join(["redis", "pass", str(uuid.uuid4().hex[:6])])


Secured = Callable[..., RedisServer]


@pytest.fixture
def secured() -> Iterator[Secured]:
    """Start redis-servers with extra arguments (``secured(args, client_options, tls=)``);
    stopped (SIGTERM, SIGKILL after a bound) after the servers that use them."""
    started: list[RedisServer] = []

    def start(args: list[str], client_options: dict[str, Any], *, tls: bool = False) -> RedisServer:
        server = RedisServer(args, client_options=client_options, tls=tls)
        started.append(server)
        try:
            return server.start()
        except RuntimeError as exc:
            pytest.fail(str(exc), pytrace=False)

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def server_factory(secured: Secured, server_factory: ServerFactory) -> ServerFactory:
    """The usual factory, set up after ``secured`` so that its servers shut down (at
    teardown) before the redis-servers they use are stopped."""
    return server_factory


async def _works(server_factory: ServerFactory, url: str, prefix: str) -> None:
    """Two nodes over ``url``: a publish on A reaches a presence subscriber on B."""
    a = await server_factory(broker_url=url, redis_prefix=prefix)
    b = await server_factory(broker_url=url, redis_prefix=prefix)
    assert a.state.node.broker.healthy and b.state.node.broker.healthy
    on_b = await client(b)
    data = '{"user_id": "ann"}'
    reply = await on_b.subscribe("presence-room", channel_data=data)
    assert reply["event"] == "pusher_internal:subscription_succeeded"
    assert await publish(a, ["presence-room"], "hello", '"over redis"') == (200, {})
    assert (await on_b.expect("hello"))["data"] == "over redis"


async def test_requirepass_url(server_factory: ServerFactory, secured: Secured) -> None:
    server = secured(["--requirepass", PASSWORD], {"password": PASSWORD})
    await _works(server_factory, f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0", "sec-pw")


async def test_acl_user_limited_to_the_prefix(
    server_factory: ServerFactory, secured: Secured
) -> None:
    """The ACL docs/cluster.md shows is enough: keys and channels under the prefix only."""
    acl = [
        "tidings",
        "on",
        f">{PASSWORD}",
        "~tidings-acl:*",
        "&tidings-acl:*",
        "+@all",
        "-@dangerous",
    ]
    server = secured(
        ["--user", "default", "off", "--user", *acl],
        {"username": "tidings", "password": PASSWORD},
    )
    url = f"redis://tidings:{PASSWORD}@127.0.0.1:{server.port}/0"
    await _works(server_factory, url, "tidings-acl")
    with pytest.raises(redis.exceptions.NoPermissionError):
        server.admin.set("elsewhere", "1")  # the limit is real


async def test_wrong_password_is_an_unhealthy_broker_not_a_crash(
    server_factory: ServerFactory, secured: Secured
) -> None:
    server = secured(["--requirepass", PASSWORD], {"password": PASSWORD})
    running = await server_factory(
        broker_url=f"redis://:wrong@127.0.0.1:{server.port}/0", redis_prefix="sec-bad"
    )
    assert not running.state.node.broker.healthy


async def test_rediss_with_the_servers_ca(
    server_factory: ServerFactory, secured: Secured, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls = ["--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    tls += ["--requirepass", PASSWORD]
    options = {"password": PASSWORD, "ssl": True, "ssl_ca_certs": str(cert)}
    server = secured(tls, options, tls=True)
    url = f"rediss://:{PASSWORD}@127.0.0.1:{server.port}/0?ssl_ca_certs={cert}"
    await _works(server_factory, url, "sec-tls")
    # Without the CA the server's certificate does not verify: unhealthy, not connected.
    untrusted = await server_factory(
        broker_url=f"rediss://:{PASSWORD}@127.0.0.1:{server.port}/0", redis_prefix="sec-tls2"
    )
    assert not untrusted.state.node.broker.healthy


def test_url_options_are_checked_at_load(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    url, options = connection_options(f"rediss://u:p@h:6380/2?ssl_ca_certs={ca}&db=3")
    assert (url, options) == ("rediss://u:p@h:6380/2?db=3", {"ssl_ca_certs": str(ca)})
    for bad, why in [
        (f"redis://h/0?ssl_ca_certs={ca}", "use a rediss:// URL"),
        ("rediss://h/0?ssl_ca_certs=/no/such.pem", "does not exist"),
        ("rediss://h/0?ssl_cert_reqs=maybe", "use required, optional, none"),
        (f"rediss://h/0?ssl_certfile={ca}", "needs ssl_keyfile"),
    ]:
        with pytest.raises(ConfigError, match=why):
            Settings.load(broker_url=bad)


def test_passwords_never_appear_in_messages() -> None:
    assert redacted(f"redis://tidings:{PASSWORD}@h:1/0") == "redis://tidings:****@h:1/0"
    assert redacted(f"rediss://:{PASSWORD}@h/0") == "rediss://:****@h/0"
    assert redacted("redis://h:1/0") == "redis://h:1/0"
    with pytest.raises(ConfigError) as caught:
        Settings.load(broker_url=f"nats://u:{PASSWORD}@h")
    assert PASSWORD not in caught.value.message
