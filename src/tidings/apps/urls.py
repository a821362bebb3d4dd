"""Database URLs: the schemes the app store takes, and a form safe to print (no driver imports)."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

__all__ = ["SCHEMES", "masked_url"]

#: The URL schemes ``database_url`` takes.
SCHEMES = ("sqlite:///", "postgresql://", "postgres://", "mysql://", "mariadb://")


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))
