"""ProcessTable: finding what an instance started outside its group, from rows alone."""

from __future__ import annotations

import os
import subprocess

from procward.kit.testing import wait_for
from procward.supervision.escapees import ProcessTable, alive, origin, signal_each

DAEMON = 100
# pid: (ppid, pgid, starttime)
ROWS = {
    DAEMON: (1, DAEMON, 1),
    200: (DAEMON, 200, 2),  # an instance's leader
    201: (200, 200, 3),  # its child, in its group
    202: (200, 202, 4),  # setsid: its own group
    203: (202, 202, 5),  # and a child of that
    300: (DAEMON, 300, 6),  # an orphan handed to the daemon
    301: (300, 200, 7),  # its child, still in the instance's group
    400: (DAEMON, 400, 8),  # another instance's leader, known
}


def test_escapees_are_the_leaders_and_the_orphans_descendants_outside_the_group() -> None:
    table = ProcessTable(ROWS)
    assert [p.pid for p in table.escapees(200, 200, [])] == [202, 203]
    assert [p.pid for p in table.escapees(200, 200, [300])] == [202, 203, 300]
    assert [p.pid for p in table.escapees(None, None, [300])] == [300, 301]
    assert table.escapees(999, 999, []) == []  # a leader that is gone


def test_orphans_are_the_daemons_children_it_did_not_start() -> None:
    assert ProcessTable(ROWS).orphans(DAEMON, known=[200, 400]) == [300]


def test_the_table_of_this_machine_holds_us() -> None:
    table = ProcessTable.read()
    assert table.rows[os.getpid()][0] == os.getppid()
    assert os.getpid() in table.subtree(os.getppid())


def test_origin_reads_the_app_and_index_under_the_marker_only() -> None:
    env = {"PROCWARD_DAEMON": "/state", "PROCWARD_APP": "web", "PROCWARD_INDEX": "2"}
    with subprocess.Popen(["sleep", "30"], env=env) as child:
        try:
            # Popen returns once exec closed its pipe, a moment before the
            # kernel has set up the new environment for /proc to read.
            found = wait_for(lambda: origin(child.pid, b"PROCWARD_DAEMON=/state"))
            assert found == ("web", 2)
            assert origin(child.pid, b"PROCWARD_DAEMON=/other") is None
            [me] = signal_each([ProcessTable.read().identity(child.pid)], 0)
            assert alive([me])
        finally:
            child.kill()
    assert not alive([me])
    assert signal_each([me], 15) == []  # gone (reaped): nothing is signalled
