"""Redis URLs as tidings takes them: ``redis://``, ``rediss://`` (TLS), credentials, TLS files.

redis-py reads ``redis://[[user]:password@]host[:port][/db]`` and ``rediss://`` itself
(``user:password@`` is an ACL user, ``:password@`` the ``requirepass`` one), but not the
files a private CA or a client certificate needs. tidings accepts them as query
parameters of a ``rediss://`` URL, the names redis-py gives the connection's keywords:

- ``ssl_ca_certs=/etc/tidings/redis-ca.pem``: the CA (or self-signed certificate) that
  signed the server's certificate, instead of the system's trust store;
- ``ssl_certfile=…&ssl_keyfile=…``: a client certificate, for ``tls-auth-clients yes``;
- ``ssl_cert_reqs=required|optional|none``: ``none`` turns verification off (a warning
  in docs/cluster.md: anyone on the path can then read and inject);
- ``ssl_check_hostname=false`` (redis-py's own).

This module imports nothing from redis-py: the settings validate a URL without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

__all__ = [
    "check_broker_url",
    "cluster_nodes",
    "connection_options",
    "is_cluster_url",
    "redacted",
    "split_broker_url",
]

_FILES: Final = ("ssl_ca_certs", "ssl_certfile", "ssl_keyfile")
_CERT_REQS: Final = ("required", "optional", "none")


def connection_options(url: str) -> tuple[str, dict[str, Any]]:
    """Split tidings' TLS parameters off ``url``.

    Returns:
        The URL redis-py parses itself, and the keyword arguments to pass with it.

    Raises:
        ValueError: a TLS parameter on a ``redis://`` URL, a file that does not
            exist, or an unknown ``ssl_cert_reqs`` (the message says what to write).
    """
    parts = urlsplit(url)
    kept: list[tuple[str, str]] = []
    options: dict[str, Any] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name not in (*_FILES, "ssl_cert_reqs"):
            kept.append((name, value))
            continue
        if parts.scheme != "rediss":
            raise ValueError(f"{name} is a TLS setting: use a rediss:// URL with it")
        if name == "ssl_cert_reqs":
            if value not in _CERT_REQS:
                raise ValueError(f"ssl_cert_reqs={value!r}: use {', '.join(_CERT_REQS)}")
        elif not Path(value).is_file():
            raise ValueError(f"{name} file {value!r} does not exist")
        options[name] = value
    if "ssl_certfile" in options and "ssl_keyfile" not in options:
        raise ValueError("ssl_certfile needs ssl_keyfile (the client certificate's key)")
    return urlunsplit(parts._replace(query=urlencode(kept))), options


def redacted(url: str) -> str:
    """``url`` with its password replaced by ``****``, for logs and messages (each one of
    a comma-separated list too)."""
    if "," in url:
        return ",".join(redacted(item) for item in url.split(","))
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:****@{host}"))


def split_broker_url(url: str) -> list[str]:
    """The Redis URLs of a (possibly comma-separated) ``broker_url``, in order.

    A Redis Cluster URL (``redis+cluster://h:p,h:p``) is one item: the cluster.

    Raises:
        ValueError: an empty item, a scheme other than ``redis``/``rediss``, or
            one server named twice (the message says which).
    """
    if is_cluster_url(url):
        cluster_nodes(url)  # checks the seed list
        return [url]  # one Redis Cluster: it routes every key and channel by slot itself
    urls = [part.strip() for part in url.split(",")]
    seen: set[tuple[str, str]] = set()
    for item in urls:
        if not item:
            raise ValueError(f"broker URL {redacted(url)!r} has an empty item between commas")
        parts = urlsplit(item)
        if parts.scheme not in ("redis", "rediss"):
            raise ValueError(
                f"shard {redacted(item)!r}: each comma-separated item must be a "
                "redis:// or rediss:// URL"
            )
        server = (parts.netloc.rpartition("@")[2], parts.path or "/0")
        if server in seen:
            raise ValueError(f"shard {redacted(item)!r} is named twice in the broker URL")
        seen.add(server)
    return urls


_CLUSTER_SCHEMES: Final = ("redis+cluster", "rediss+cluster")


def is_cluster_url(url: str) -> bool:
    """Whether ``url`` names a Redis Cluster (``redis+cluster://`` or ``rediss+cluster://``)."""
    return url.split("://", 1)[0] in _CLUSTER_SCHEMES


def cluster_nodes(url: str) -> tuple[str, list[tuple[str, int]]]:
    """The plain URL of a Redis Cluster URL's first seed and every seed's (host, port).

    ``redis+cluster://[user:password@]h1:p1,h2:p2[/0][?ssl_ca_certs=...]`` gives
    ``redis://[user:password@]h1:p1/0[?...]`` (credentials and TLS options that
    every node shares) and ``[(h1, p1), (h2, p2)]``.

    Raises:
        ValueError: no seed, a seed without a port, or a database other than 0
            (a Redis Cluster has only database 0).
    """
    scheme, rest = url.split("://", 1)
    plain_scheme = scheme.removesuffix("+cluster")
    auth, _, hosts_and_tail = rest.rpartition("@")
    marks = [i for i in (hosts_and_tail.find("/"), hosts_and_tail.find("?")) if i >= 0]
    cut = min(marks, default=len(hosts_and_tail))
    hosts, tail = hosts_and_tail[:cut], hosts_and_tail[cut:]
    seeds: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(
                f"Redis Cluster seed {item.strip()!r} of {redacted(url)!r}: write host:port"
            )
        seeds.append((host, int(port)))
    path = urlsplit(f"{plain_scheme}://x{tail}").path
    if path not in ("", "/", "/0"):
        raise ValueError(f"a Redis Cluster has only database 0, not {path!r}: drop it from the URL")
    netloc = (auth + "@" if auth else "") + f"{seeds[0][0]}:{seeds[0][1]}"
    return f"{plain_scheme}://{netloc}{tail}", seeds


def check_broker_url(value: str) -> str:
    """``value`` if it is a broker URL tidings takes: ``memory://``, or Redis URLs (several,
    comma-separated: shards) whose TLS files exist and parameters are known.

    Raises:
        ValueError: naming what is wrong (credentials redacted).
    """
    scheme = urlsplit(value).scheme
    if scheme not in ("memory", "redis", "rediss", "redis+cluster", "rediss+cluster"):
        raise ValueError(
            f"unsupported broker URL {redacted(value)!r}: use memory:// (single node), "
            "redis://host:6379/0 / rediss://... (cluster) or redis+cluster://host:port "
            "(Redis Cluster)"
        )
    if scheme != "memory":
        for url in split_broker_url(value):  # several, comma-separated: shards
            if is_cluster_url(url):
                url = cluster_nodes(url)[0]
            connection_options(url)  # TLS files exist, parameters are known
    return value
