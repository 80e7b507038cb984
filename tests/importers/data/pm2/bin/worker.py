"""A worker that runs until stopped; PM2 started it with an interpreter chosen by extension."""

import signal
import sys

signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
signal.pause()
