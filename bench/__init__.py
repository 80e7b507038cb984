"""procward's benchmark harness: ``python -m bench [--quick]`` from the repo root.

It measures what DESIGN.md's "Performance budgets" table promises, on this
machine, and writes a markdown report to ``bench/results/``:

- CLI wall time from the shell (``procward ping``, ``procward status``) against
  the floors ``python -c pass`` and ``python -c "import socket, json"``;
- RPC round trips on one persistent connection (p50/p90/p99/max);
- the daemon's resident memory right after ``procward up``.

Layout: ``systems`` holds the supervisors under test (procward today; the
peers supervisord, Circus and PM2 slot in as more ``System`` implementations),
``scenarios`` the measurements and their budgets, ``measure`` the timing
primitives, ``procs`` the /proc helpers, ``report`` the markdown output and
``runner`` the order in which it all happens.
"""
