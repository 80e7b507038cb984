"""The app of the log capture scenario: numbered fixed-width lines, as fast as it can.

Run as a script (``python -S -I logwriter.py LINES WIDTH GATE``; standard
library only, nothing imported from the bench): it builds its whole output
in memory first, then opens the FIFO ``GATE`` for reading, which blocks until
the bench opens it for writing, and waits for one byte. Only then does it
write everything to stdout in one ``os.write`` loop and exit, so the clock
the bench starts when it releases the gate times the supervisor's capture,
not the app's start-up or the building of the lines.

``payload`` is also what the bench compares the log files with.
"""

from __future__ import annotations

import os
import sys

NUMBER = 7  # digits of the line number: up to 9,999,999 lines
MIN_WIDTH = NUMBER + 2  # number, space, newline


def payload(lines: int, width: int) -> bytes:
    """``0000000 xxx…x\\n`` .. ``<lines-1> xxx…x\\n``, every line ``width`` bytes."""
    if width < MIN_WIDTH:
        raise ValueError(f"line width must be at least {MIN_WIDTH}")
    if lines > 10**NUMBER:
        raise ValueError(f"at most {10**NUMBER} lines")
    fill = b"x" * (width - MIN_WIDTH)
    return b"".join([b"%07d %s\n" % (i, fill) for i in range(lines)])


def main(argv: list[str]) -> int:
    lines, width, gate = int(argv[1]), int(argv[2]), argv[3]
    view = memoryview(payload(lines, width))
    fd = os.open(gate, os.O_RDONLY)  # blocks until the bench opens the FIFO to write
    try:
        if not os.read(fd, 1):
            return 3  # the bench went away without releasing the gate
    finally:
        os.close(fd)
    while view:
        view = view[os.write(1, view) :]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
