"""A fleet of procward daemons on Redis (decision 0048; docs/fleet.md).

Imported only by a daemon whose config says ``[daemon.cluster] enabled =
true``; a daemon without it never loads this package nor ``redis``
(``tests/fleet/test_lazy.py``). Layered like the rest of procward:

    placement   pure: nodes, placed apps and the current assignment in,
                the next assignment out
    verdicts    pure: live / suspect / offline from a node's last heartbeat
    settings    the ``[daemon.cluster]`` table, read and checked
    store       the Redis schema and its Lua scripts (the only module that
                speaks to Redis)
    node        the running side: heartbeat, election, the leader's loop,
                assignments applied under their fence
"""
