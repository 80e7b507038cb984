"""``kit._prctl``: one prctl through ``_ctypes``, in a process of its own (the flag sticks)."""

from __future__ import annotations

import subprocess
import sys


def test_a_process_can_make_itself_non_dumpable_without_the_ctypes_package() -> None:
    code = (
        "import sys\n"
        "from procward.kit._prctl import PR_GET_DUMPABLE, PR_SET_DUMPABLE, prctl\n"
        "print(prctl(PR_GET_DUMPABLE), prctl(PR_SET_DUMPABLE, 0), prctl(PR_GET_DUMPABLE),"
        " 'ctypes' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["1", "0", "0", "False"]
