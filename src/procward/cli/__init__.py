"""The ``procward`` command: a thin, fast client of the daemon.

Start-up time is the product here (``procward ping`` must cost little more
than starting Python), so this package imports only the kit's argv parser,
client and wire code, and renders results itself (the records of the replies,
``procward.replies`` and ``procward.reports``, only in the commands that render
them). It never imports the daemon: ``run`` execs ``python -m procward.daemon``
instead.
"""

from __future__ import annotations

import sys

from procward.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
