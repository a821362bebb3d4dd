"""A real tidings server on port 0 per test, and a small Pusher-protocol test client.

Everything is defined in :mod:`tests.support` (shared with the other tiers); the names
are re-exported here because the integration tests import them from this module.
"""

from __future__ import annotations

from tests.fixtures.api import APP_ID as APP_ID
from tests.fixtures.api import KEY as KEY
from tests.fixtures.api import SECRET as SECRET
from tests.fixtures.api import signed_url as signed_url
from tests.fixtures.webhooks import receiver as receiver
from tests.support.brokers import BrokerPair as BrokerPair
from tests.support.brokers import broker_pair as broker_pair
from tests.support.pusher import STEADY_TTL as STEADY_TTL
from tests.support.pusher import TIMEOUT as TIMEOUT
from tests.support.pusher import ConnectFn as ConnectFn
from tests.support.pusher import OpenClient as OpenClient
from tests.support.pusher import PusherClient as PusherClient
from tests.support.pusher import ServerFactory as ServerFactory
from tests.support.pusher import client as client
from tests.support.pusher import close_and_wait as close_and_wait
from tests.support.pusher import connect as connect
from tests.support.pusher import nothing_before_barrier as nothing_before_barrier
from tests.support.pusher import open_client as open_client
from tests.support.pusher import publish as publish
from tests.support.pusher import server as server
from tests.support.pusher import server_factory as server_factory
from tests.support.redis import RedisServer as RedisServer
from tests.support.waiting import eventually as eventually
