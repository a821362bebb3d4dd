"""Domain string types shared by every layer.

They are ``NewType`` aliases of ``str``: free at run time, distinct to mypy.
"""

from __future__ import annotations

from typing import NewType

__all__ = ["AppId", "AppKey", "ChannelName", "NodeId", "SocketId", "UserId"]

AppId = NewType("AppId", str)
AppKey = NewType("AppKey", str)
ChannelName = NewType("ChannelName", str)
SocketId = NewType("SocketId", str)
UserId = NewType("UserId", str)
NodeId = NewType("NodeId", str)
