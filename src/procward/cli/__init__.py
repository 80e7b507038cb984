"""The ``procward`` command: a thin, fast client of the daemon.

Start-up time is the product here (``procward ping`` must cost little more
than starting Python), so this package imports only argparse, the kit's
client and wire code, and renders results itself. It never imports the
daemon: ``run`` execs ``python -m procward.daemon`` instead.
"""

from __future__ import annotations

import sys

from procward.cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
