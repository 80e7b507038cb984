"""procward's benchmark harness: ``python -m bench [--quick]`` from the repo root.

It measures what DESIGN.md's "Performance budgets" table promises, on this
machine, and writes a markdown report to ``bench/results/``:

- CLI wall time from the shell (``procward ping``, ``procward status``) against
  the floors ``python -c pass`` and ``python -c "import socket, json"``;
- RPC round trips on one persistent connection (p50/p90/p99/max);
- the daemon's resident memory right after ``procward up``;
- with apps, each in a fresh daemon and home: cold start to N apps running,
  kill -9 → restart latency, daemon memory with N apps, idle daemon CPU,
  ``status`` from the shell with N apps, and ``stop all``.

Layout: ``systems`` holds the supervisors under test (procward today; the
peers supervisord, Circus and PM2 slot in as more ``System``/``AppSystem``
implementations), ``scenarios`` the empty-daemon measurements and their
budgets, ``supervision`` the measurements with apps and theirs, ``measure``
the timing primitives, ``procs`` the /proc helpers, ``report`` the markdown
output and ``runner`` the order in which it all happens (``--only kit`` or
``--only supervision`` runs one half).
"""
