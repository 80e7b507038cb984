"""What survives the daemon: desired state and the processes it left running.

``state.json`` holds every app's spec (so ad-hoc apps survive too), whether
it should run, and per instance the identity of its process group leader
``(pid, starttime, boot id)``. It is written by a ``kit.Snapshot`` (atomic,
previous version kept as ``.bak``), coalesced: a burst of 500 transitions is
one write 10 ms later, not 500 fsyncs, plus the seed's baseline flush every
30 s (``baseline``: a removed or damaged file, or a failed write, is done
again within 30 s). The write itself runs on the snapshot's worker thread so
a slow disk never stalls the loop.

After a crash the next daemon calls ``terminate_leftovers``: every recorded
group whose leader is still the very process we started (identity match), or
whose leader is gone while the group lives on (orphans; Linux does not reuse
a pid that still names a process group), gets its stop signal, then KILL at
the deadline. Then the supervisor relaunches what was meant to run, so there
is never a duplicate and never an orphan.

Format (version 1)::

    {"format": 1, "saved_at": <unix time>,
     "apps": [{"spec": {<AppSpec.to_table()>, "name": ...}, "source": "...",
               "desired": true,
               "instances": [{"index": 0, "state": "running", "pid": 123,
                              "pgid": 123, "starttime": 456, "boot_id": "...", ...}]}]}
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

from procward.kit import _signals as signals
from procward.kit._atomic import backup_path, read_with_fallback
from procward.kit._procinfo import ProcessIdentity, starttime
from procward.kit._snapshot import Snapshot
from procward.kit._structs import Struct
from procward.supervision import process

log = logging.getLogger("procward.supervision.state")
FORMAT = 1
# Seconds between two writes while changes keep coming (a crash storm: a few writes a
# second, not one every 10 ms, each with two fsyncs). A child spawned after the last
# write is still found after a crash: its environment carries MARKER.
SPACING = 0.25


def parse_state(raw: bytes) -> dict[str, Any]:
    """The file's JSON, its ``format`` and list of apps checked; ``ValueError`` if not one.

    A newer format is refused, not guessed at: an older daemon that read it
    could drop what it does not know at its next save.
    """
    data = json.loads(raw)
    version = data.get("format") if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT:
        raise ValueError(
            f"written by a newer procward (state format {version}; this one reads "
            f"format {FORMAT} and will not guess at the rest)"
        )
    if not isinstance(data, dict) or version != FORMAT:
        raise ValueError(f"not a procward state file of format {FORMAT}")
    if not isinstance(data.get("apps"), list):
        raise ValueError('"apps" is not a list')
    return data


def load(path: str) -> dict[str, Any] | None:
    """The saved state; None if there is none.

    Raises ``CorruptFile`` when neither ``state.json`` nor its ``.bak`` can be
    used: then nothing says which running processes are ours, and only an
    operator can decide (``set_aside`` once they have).
    """
    return read_with_fallback(path, parse_state)


def set_aside(path: str) -> list[str]:
    """Rename ``path`` and its ``.bak`` to ``<name>.corrupt-<time>``; the new names.

    Kept, not deleted: someone may want to repair them by hand.
    """
    stamp = time.strftime("%Y%m%dT%H%M%S")
    kept = []
    for name in (path, backup_path(path)):
        aside = f"{name}.corrupt-{stamp}"
        try:
            os.replace(name, aside)
        except FileNotFoundError:
            continue
        kept.append(aside)
    return kept


class StateStore:
    """``state.json``, written by a ``kit.Snapshot``: what ``snapshot`` returns,
    stamped with the format and the time of the save."""

    def __init__(self, path: str, snapshot: Callable[[], dict[str, Any]]) -> None:
        self.path = path
        self.snapshot = snapshot
        self.file = Snapshot(
            path,
            self._take,
            failing="; changes hold only while this daemon runs (trying again every 30 s)",
            spacing=SPACING,
        )

    @property
    def problem(self) -> str | None:
        """Why the last write failed (a full disk...), None once one succeeds: what
        the daemon tells an operator whose change could not be made durable."""
        return self.file.problem

    @property
    def writes(self) -> int:
        return self.file.writes

    def mark_dirty(self) -> None:
        self.file.changed()

    def flush(self) -> concurrent.futures.Future[None]:
        """Snapshot now (in the loop, consistent) and write it on the worker."""
        return self.file.flush()

    def baseline(self) -> concurrent.futures.Future[None] | None:
        """The seed's 30 s save (``Snapshot.baseline``): a save that would change
        nothing but ``saved_at`` is skipped."""
        return self.file.baseline()

    async def close(self) -> None:
        """Write the final state and stop the worker."""
        await self.file.close()

    def abandon(self) -> None:
        """Stop without a final write: the file keeps what was last saved.

        For a daemon whose start failed: what it did meanwhile (apps started,
        then ended again) is not a change of intent.
        """
        self.file.abandon()

    def _take(self) -> bytes:
        """The snapshot, stamped; ``apps`` may hold entries already encoded (bytes)."""
        state = {"format": FORMAT, "saved_at": time.time(), **self.snapshot()}
        apps = state.pop("apps", [])
        head = json.dumps(state).encode()
        body = b",".join(a if type(a) is bytes else json.dumps(a).encode() for a in apps)
        return b"".join((head[:-1], b', "apps": [' if state else b'"apps": [', body, b"]}"))


class Leftover(Struct):
    label: str
    pgid: int
    identity: ProcessIdentity
    stop_signal: str


def leftovers(saved: dict[str, Any] | None, state_dir: str) -> list[Leftover]:
    """Process groups of the previous daemon that are still ours to end."""
    found = []
    live = process.live_groups()
    me = {os.getpid(), os.getpgid(0)}
    for pgid in marked_groups(state_dir, exclude=me, live=live):
        found.append(Leftover(f"process group {pgid}", pgid, ProcessIdentity(pgid, 0, ""), "TERM"))
    if saved is None:
        return found
    known = {g.pgid for g in found}
    for app in saved.get("apps", []):
        spec = app.get("spec") if isinstance(app, dict) else None
        spec = spec if isinstance(spec, dict) else {}
        for inst in _instances(app):
            group, leader = inst.get("pgid") or inst.get("pid"), inst.get("pid")
            if not isinstance(group, int) or group <= 1:
                continue
            try:
                ident = ProcessIdentity(
                    int(leader or group),
                    int(inst.get("starttime") or 0),
                    str(inst.get("boot_id") or ""),
                )
            except (TypeError, ValueError):
                continue
            if group not in known and _still_ours(ident, group, live):
                label = f"{spec.get('name', '?')}:{inst.get('index', '?')}"
                found.append(Leftover(label, group, ident, str(spec.get("stop_signal", "TERM"))))
    return found


def _instances(app: object) -> list[dict[str, Any]]:
    """The saved instances of an app entry, whatever a hand edit left of it."""
    found = app.get("instances") if isinstance(app, dict) else None
    return [i for i in found if isinstance(i, dict)] if isinstance(found, list) else []


MARKER = "PROCWARD_DAEMON"  # in every child's environment: the state dir of its daemon


def marked_groups(
    state_dir: str, *, exclude: set[int], live: dict[int, list[int]] | None = None
) -> dict[int, list[int]]:
    """Groups of live processes whose environment names this daemon's state dir.

    The safety net for a crash between a spawn and the next save of
    ``state.json``: such a child is in no file, but it carries the marker
    (unless it rewrote its own environment).
    """
    needle = f"\0{MARKER}={state_dir}\0".encode()
    found: dict[int, list[int]] = {}
    for pgid, pids in (process.live_groups() if live is None else live).items():
        if pgid in exclude:
            continue
        for pid in pids:
            if pid in exclude:
                continue
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    env = b"\0" + f.read()
            except OSError:
                continue
            if needle in env:
                found.setdefault(pgid, []).append(pid)
    return found


def _still_ours(ident: ProcessIdentity, pgid: int, live: dict[int, list[int]]) -> bool:
    if pgid not in live:
        return False
    if ident.matches_live():
        return True
    # The leader is gone; if no process has its pid, a live group by that id can
    # only be the orphans it left (the kernel keeps a pgid in use unreusable).
    return starttime(ident.pid) is None or ident.pid not in live[pgid]


async def terminate_leftovers(groups: list[Leftover], timeout: float) -> None:
    """Stop-signal each group, then KILL what is left at the deadline."""
    if not groups:
        return
    for group in groups:
        log.warning(
            "ending %s (process group %d) left by the previous daemon", group.label, group.pgid
        )
        process.signal_group(group.pgid, signals.number(group.stop_signal))
    deadline = time.monotonic() + timeout
    delay = 0.005
    while any(g.pgid in process.live_groups() for g in groups):
        if time.monotonic() >= deadline:
            for group in groups:
                process.signal_group(group.pgid, signal.SIGKILL)
            break
        # Not our children (init adopted them), so no SIGCHLD: poll, briefly.
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.1)
