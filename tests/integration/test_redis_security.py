"""Securing Redis: requirepass, an ACL user limited to tidings' prefix, and TLS, each
against a redis-server this test starts (and stops by PID)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import free_port
from tests.fixtures.tls import self_signed
from tests.integration.conftest import TIMEOUT, ServerFactory, client, publish
from tidings.config import Settings
from tidings.errors import ConfigError
from tidings.redis_url import connection_options, redacted

PASSWORD = "-".join(["redis", "pass", str(uuid.uuid4().hex[:6])])


class SecuredRedis:
    """A redis-server with extra arguments; ``admin`` is a redis-py client that gets in."""

    def __init__(self, args: list[str], admin: dict[str, object]) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not on PATH (apt-get install redis-server)")
        self.port = free_port()
        self._log = tempfile.TemporaryFile()
        base = [binary, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        if "--tls-port" in args:
            args = [*args[:1], str(self.port), *args[1:]]
            base += ["--port", "0"]
        else:
            base += ["--port", str(self.port)]
        self.proc = subprocess.Popen([*base, *args], stdout=self._log, stderr=subprocess.STDOUT)
        self.admin = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, **admin)  # type: ignore[arg-type]
        deadline = time.monotonic() + TIMEOUT
        while True:  # redis-server gives no readiness signal but answering PING
            try:
                self.admin.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.stop()
                    pytest.fail(f"redis-server did not start: {self.output()[-800:]}")
                time.sleep(0.02)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        self.admin.close()
        if self.proc.poll() is None:
            self.proc.terminate()  # our own child, by its PID
            self.proc.wait(timeout=TIMEOUT)
        self._log.close()


@pytest.fixture
def secured() -> Iterator[list[SecuredRedis]]:
    started: list[SecuredRedis] = []
    yield started
    for server in started:
        server.stop()


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


async def test_requirepass_url(server_factory: ServerFactory, secured: list[SecuredRedis]) -> None:
    server = SecuredRedis(["--requirepass", PASSWORD], {"password": PASSWORD})
    secured.append(server)
    await _works(server_factory, f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0", "sec-pw")


async def test_acl_user_limited_to_the_prefix(
    server_factory: ServerFactory, secured: list[SecuredRedis]
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
    server = SecuredRedis(
        ["--user", "default", "off", "--user", *acl],
        {"username": "tidings", "password": PASSWORD},
    )
    secured.append(server)
    url = f"redis://tidings:{PASSWORD}@127.0.0.1:{server.port}/0"
    await _works(server_factory, url, "tidings-acl")
    with pytest.raises(redis.exceptions.NoPermissionError):
        server.admin.set("elsewhere", "1")  # the limit is real


async def test_wrong_password_is_an_unhealthy_broker_not_a_crash(
    server_factory: ServerFactory, secured: list[SecuredRedis]
) -> None:
    server = SecuredRedis(["--requirepass", PASSWORD], {"password": PASSWORD})
    secured.append(server)
    running = await server_factory(
        broker_url=f"redis://:wrong@127.0.0.1:{server.port}/0", redis_prefix="sec-bad"
    )
    assert not running.state.node.broker.healthy


async def test_rediss_with_the_servers_ca(
    server_factory: ServerFactory, secured: list[SecuredRedis], tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    tls = ["--tls-port", "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    tls += ["--tls-ca-cert-file", str(cert), "--tls-auth-clients", "no"]
    tls += ["--requirepass", PASSWORD]
    server = SecuredRedis(tls, {"password": PASSWORD, "ssl": True, "ssl_ca_certs": str(cert)})
    secured.append(server)
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
