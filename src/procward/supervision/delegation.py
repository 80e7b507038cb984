"""May this daemon use cgroups v2, and where: a few reads at start, nothing more.

A cgroup is the one container a process cannot leave: ``setsid``, a double
fork or a cleared environment take a process out of its group and out of
sight of ``escapees.py``, never out of its cgroup. So where the daemon may
make cgroups of its own, each instance gets one (``cgroups.py``). It may
when its cgroup is delegated to it: under systemd with ``Delegate=yes``
(the unit ``procward service`` writes), in a container with its own cgroup
namespace, or as root on the host. In practice: the cgroup v2 hierarchy is
mounted, and the daemon's own cgroup is a directory it may write.

Where exactly (decision 0039):

- ``PROCWARD_CGROUP=off``: not used.
- ``PROCWARD_CGROUP=/some/path`` (relative to the v2 mount): that cgroup is
  the daemon's, whole: instances go in ``<it>/apps/<app>.<index>``. For a
  cgroup made for the daemon by something else (the tests make one each).
- Otherwise the daemon's own cgroup ``O`` (``/proc/self/cgroup``), and
  ``O/procward.<key>`` is the daemon's, ``<key>`` a checksum of its state
  directory: two daemons in one cgroup never share a subtree, and the same
  daemon finds its subtree again after a crash or an upgrade. When it moved
  itself into ``<subtree>/daemon`` (to enable controllers, cgroup v2's rule
  of no processes in an inner cgroup), ``O`` is two levels up.

The v2 mount is found in ``/proc/self/mountinfo``, never assumed: a hybrid
host mounts it at ``/sys/fs/cgroup/unified``. Nothing here writes: whether
the subtree can really be made is ``cgroups.py``'s to find out. This module
is small on purpose: every daemon reads it, and only a daemon that uses
cgroups loads ``cgroups.py``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping

from procward.kit._structs import Struct

__all__ = ["LIMIT_CONTROLLERS", "Delegation", "detect", "subtree_name", "unenforced"]

ENV = "PROCWARD_CGROUP"
# An app's limit key -> the controller that enforces it (cgroups.py writes them).
LIMIT_CONTROLLERS = {
    "memory_max": "memory",
    "memory_high": "memory",
    "cpu_max": "cpu",
    "pids_max": "pids",
}


class Delegation(Struct):
    """Where the daemon's cgroup subtree is (``base``), or why there is none (``reason``)."""

    base: str | None  # absolute directory of the subtree (made by cgroups.py)
    own: str | None  # the cgroup the daemon was in (absolute directory)
    reason: str | None = None  # why not, for `procward info`
    given: bool = False  # PROCWARD_CGROUP named the subtree: it exists and is ours whole
    mount: str | None = None  # of the cgroup v2 hierarchy

    def as_dict(self) -> dict[str, str | None]:
        if self.base is None:
            return {"in_use": "no", "reason": self.reason}
        return {"in_use": "yes", "path": self.base}


def unenforced(limits: Mapping[str, object], enabled: frozenset[str] | None) -> list[str]:
    """The keys set in ``limits`` that no controller enforces (``enabled`` None: no cgroups)."""
    return [
        key
        for key, controller in LIMIT_CONTROLLERS.items()
        if limits.get(key) is not None and (enabled is None or controller not in enabled)
    ]


def subtree_name(state_dir: str) -> str:
    """``procward.<key>``: the same daemon (state directory) finds the same subtree."""
    return f"procward.{zlib.crc32(os.fsencode(state_dir)):08x}"


def detect(
    state_dir: str,
    environ: Mapping[str, str] | None = None,
    *,
    mountinfo: str = "/proc/self/mountinfo",
    self_cgroup: str = "/proc/self/cgroup",
) -> Delegation:
    """Where this daemon's cgroups go, or why none (the paths are for tests)."""
    wanted = (os.environ if environ is None else environ).get(ENV, "").strip()
    if wanted == "off":
        return Delegation(None, None, f"turned off ({ENV}=off)")
    mount = v2_mount(mountinfo)
    if mount is None:
        return Delegation(None, None, "no cgroup v2 hierarchy is mounted")
    if wanted:
        base = os.path.join(mount, wanted.lstrip("/"))
        if not os.path.isfile(os.path.join(base, "cgroup.procs")):
            return Delegation(None, None, f"{ENV}={wanted}: no such cgroup under {mount}")
        return _writable(Delegation(base, base, given=True, mount=mount))
    own = own_cgroup(mount, self_cgroup)
    if own is None:
        return Delegation(None, None, "this process is in no cgroup of the v2 hierarchy")
    name = subtree_name(state_dir)
    if os.path.basename(own) == "daemon" and os.path.basename(os.path.dirname(own)) == name:
        own = os.path.dirname(os.path.dirname(own))  # we moved there ourselves, before an exec
    return _writable(Delegation(os.path.join(own, name), own, mount=mount))


def _writable(found: Delegation) -> Delegation:
    """``found``, unless the daemon may not make cgroups in its parent (not delegated)."""
    assert found.base is not None and found.own is not None
    where = found.base if found.given else found.own
    if not os.access(where, os.W_OK) or not os.access(os.path.join(where, "cgroup.procs"), os.W_OK):
        return Delegation(None, found.own, f"cgroup {where} is not delegated to this daemon")
    return found


def v2_mount(mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The mount point of the cgroup2 file system, if one is mounted."""
    try:
        with open(mountinfo) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        before, _, after = line.partition(" - ")
        if after.split(" ", 1)[0] == "cgroup2":
            fields = before.split()
            if len(fields) >= 5 and fields[3] == "/":  # its root, not a bind of a sub-cgroup
                return _unescape(fields[4])
    return None


def own_cgroup(mount: str, self_cgroup: str = "/proc/self/cgroup") -> str | None:
    """The directory of this process's cgroup v2 (the ``0::`` line)."""
    try:
        with open(self_cgroup) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::/"):
            path = line[3:].removesuffix(" (deleted)")
            return os.path.normpath(os.path.join(mount, path.lstrip("/")))
    return None


def _unescape(field: str) -> str:
    """mountinfo writes a space as ``\\040`` (and tab, newline, backslash alike)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field
