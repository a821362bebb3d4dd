"""Support code shared by every test tier (unit, contract, integration, conformance,
reliability, docs). The tiers never import each other; what two of them need lives here:

- :mod:`tests.support.serve`: ``tidings serve`` as a child process (port 0, readiness by
  its ``tidings serving`` line, bounded stop, output kept) and the ``serve`` fixture;
- :mod:`tests.support.redis`: redis-server launcher, the session's ``redis_url``,
  ``own_redis``, ``delete_redis_keys``;
- :mod:`tests.support.postgres`: the PostgreSQL server and a database per test;
- :mod:`tests.support.waiting`: ``eventually(predicate, timeout)``, the one bounded poll;
- :mod:`tests.support.timing`: duration/RSS bounds, asserted only by ``make reliability``;
- :mod:`tests.support.env`: ``clean_env`` (no ``TIDINGS_*`` from outside, a scratch cwd);
- :mod:`tests.support.ports`: ``closed_port()``, a port where nothing listens, for sure;
- :mod:`tests.support.rawws`: a raw WebSocket client for byte-level tests.
"""
