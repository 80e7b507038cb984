"""procward's benchmark harness: ``python -m bench [--quick]`` from the repo root.

It measures what DESIGN.md's "Performance budgets" table promises, on this
machine, and writes a markdown report to ``bench/results/``:

- CLI wall time from the shell (``procward ping``, ``procward status``) against
  the floors ``python -c pass`` and ``python -c "import socket, json"``;
- RPC round trips on one persistent connection (p50/p90/p99/max);
- the daemon's resident memory right after ``procward up``;
- with apps, each in a fresh daemon and home: cold start to N apps running,
  kill -9 → restart latency, daemon memory with N apps, idle daemon CPU,
  ``status`` from the shell with N apps, and ``stop all``;
- log capture: one app printing a burst of numbered lines, throughput to
  disk, daemon CPU, and every line checked (none lost, duplicated or split
  across two files by rotation), plain and with ``log_time = true``;
- reload under load: 8 clients loading a 2-instance HTTP app while each
  system reloads it 5 times its zero-downtime way, failed requests counted.

The peers run in the same rounds: supervisord today (installed on first use
into the git-ignored ``bench/.peers/``; ``--no-peers`` leaves it out).

Layout: ``systems`` holds the ``System``/``AppSystem`` interface and procward,
``supervisord``, ``circus_peer`` and ``pm2_peer`` the peers, ``peerbase`` what
they share (private home, pidfile, clean-up by pid) and ``peers`` their isolated
installs; ``scenarios`` the
empty-daemon measurements and their budgets, ``supervision`` the
measurements with apps and theirs, ``logcapture`` (with its app,
``logwriter``) the log scenario, ``reload_load`` (with its app
``reload_app``, its load ``httpload`` and each system's way ``reload_ways``)
the reload scenario, ``measure`` the timing primitives, ``procs``
the /proc helpers, ``report`` the markdown output and ``runner`` the order in
which it all happens (``--only kit``, ``--only supervision``, ``--only reload``
or ``--only logs`` runs one part).
"""
