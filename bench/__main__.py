"""Entry point: ``python -m bench [--quick] [--reps N] [--calls N] [--out DIR]``."""

from __future__ import annotations

import sys

from bench.runner import main

raise SystemExit(main(sys.argv[1:]))
