"""A cgroup per instance, under the daemon's delegated subtree (decision 0039).

Loaded only by a daemon that uses cgroups (``delegation.detect`` found a
subtree it may write). Layout, ``<base>`` being what ``delegation`` chose::

    <base>/daemon               the daemon, when it had to leave its cgroup
    <base>/apps/<app>.<index>   one per instance, kept across its restarts
    <base>/apps/<app>.<index>.1 a surge reload's new process, beside the old

Why: a cgroup holds everything an instance started, whatever it did with
its process group, session or environment. ``cgroup.kill`` (Linux 5.14)
SIGKILLs all of it at once, forks in flight included, so a stop's KILL
leaves nothing behind; its members are the escapees to TERM; it is empty
exactly when the instance is gone (``populated 0``, zombies not counted).

Controllers (``memory``, ``pids``, ``cpu``) are enabled only where the
kernel lets the daemon: cgroup v2 allows a controller in a cgroup's
children only if the cgroup holds no process itself, so a daemon alone in
its cgroup (systemd's ``Delegate=yes``) moves into ``<base>/daemon`` first;
one that shares its cgroup (a shell, a test runner) cannot, and its
instances get no limits (``missing`` says why). Placement and kill need no
controller.

Every write is small and synchronous: a ``mkdir`` at an instance's first
spawn and an ``rmdir`` once it is at rest. The placement is the child's
own: it is spawned through a line of ``sh`` that writes itself into the
instance's ``cgroup.procs`` and then execs the program (``process._JOIN``),
so the program is in the cgroup before it runs a single instruction or
forks. A migration waits for an RCU grace period of the kernel (1 ms on a
quiet machine, 10-20 ms on a busy one): the child waits, not the daemon's
loop. The daemon stepping into the cgroup around its fork (until 0.x of
issue 14) blocked the loop that long at every spawn that was not part of
a burst; ``preexec_fn`` made every spawn a full ``fork`` of the daemon
(3.7 ms); moving the child from the parent after the spawn leaves a window
in which the program may fork outside. Decision 0039.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
from collections.abc import Iterable

from procward.supervision.delegation import LIMIT_CONTROLLERS, Delegation, own_cgroup
from procward.supervision.metrics import PAGE_SIZE, Usage
from procward.supervision.spec import AppSpec

__all__ = ["CONTROLLERS", "Cgroups", "CgroupsUnavailable"]

log = logging.getLogger("procward.supervision.cgroups")

CONTROLLERS = ("cpu", "memory", "pids")
CPU_PERIOD = 100_000  # microseconds, the kernel's default period


class CgroupsUnavailable(Exception):
    """The subtree could not be made; the message says why, for ``procward info``."""


class Cgroups:
    """The daemon's subtree: instances' cgroups made, signalled, measured and removed."""

    def __init__(self, delegation: Delegation) -> None:
        assert delegation.base is not None and delegation.own is not None
        self.base = delegation.base
        self.own = delegation.own
        self.given = delegation.given
        self.mount = delegation.mount or ""
        self.apps = os.path.join(self.base, "apps")
        self.enabled: frozenset[str] = frozenset()  # controllers instances get
        self.missing: dict[str, str] = {}  # controller -> why instances do not get it
        # path -> the instance using it: a surge replacement of the same index,
        # running beside the one it replaces, gets a cgroup of its own.
        self.owners: dict[str, object] = {}

    # -- the subtree -------------------------------------------------------------------

    def set_up(self) -> None:
        """Make the subtree and enable what controllers can be; ``CgroupsUnavailable`` if not."""
        try:
            os.makedirs(self.apps, exist_ok=True)
        except OSError as exc:
            raise CgroupsUnavailable(f"cannot make {self.apps}: {exc.strerror or exc}") from None
        if not os.path.exists(os.path.join(self.apps, "cgroup.kill")):
            self.close()
            raise CgroupsUnavailable("this kernel has no cgroup.kill (Linux 5.14 or later)")
        self._enable_controllers()
        # A child joins from the daemon's cgroup: the kernel asks for write
        # access to both ends' common ancestor, at least the daemon's own.
        home = own_cgroup(self.mount)
        if home is None or not os.access(os.path.join(home, "cgroup.procs"), os.W_OK):
            self.close()
            raise CgroupsUnavailable(f"children cannot leave the daemon's cgroup ({home})")

    def _enable_controllers(self) -> None:
        parent = self.base if self.given else self.own
        offered = set(_words(os.path.join(parent, "cgroup.controllers")))
        for name in CONTROLLERS:
            if name not in offered:
                self.missing[name] = f"the {name} controller is not delegated to {parent}"
        wanted = [c for c in CONTROLLERS if c in offered]
        if not wanted:
            return
        levels = [self.base, self.apps] if self.given else [self.own, self.base, self.apps]
        if not self.given and not self._leave_own_cgroup():
            why = (
                f"{self.own} holds other processes than the daemon, and cgroup v2 enables "
                "controllers only below a cgroup without any (give the daemon a cgroup of "
                "its own: systemd's Delegate=yes)"
            )
            self.missing.update(dict.fromkeys(wanted, why))
            return
        enabled = []
        for name in wanted:
            try:
                for level in levels:
                    _write(os.path.join(level, "cgroup.subtree_control"), f"+{name}")
            except OSError as exc:
                self.missing[name] = f"cannot enable {name} in {level}: {exc.strerror or exc}"
            else:
                enabled.append(name)
        self.enabled = frozenset(enabled)

    def _leave_own_cgroup(self) -> bool:
        """Move the daemon into ``<base>/daemon`` if it is alone in its cgroup (or the root)."""
        if not os.path.exists(os.path.join(self.own, "cgroup.events")):
            return True  # the root cgroup: exempt from the rule
        others = set(_pids(os.path.join(self.own, "cgroup.procs"))) - {os.getpid()}
        if others:
            return False
        leaf = os.path.join(self.base, "daemon")
        os.makedirs(leaf, exist_ok=True)
        _write(os.path.join(leaf, "cgroup.procs"), "0")
        return True

    def close(self) -> None:
        """The daemon stops: every empty cgroup it made removed (the base, if it made it)."""
        for name in self.instance_dirs():
            self.remove(os.path.join(self.apps, name))
        _rmdir(self.apps)
        if not self.given:
            _rmdir(os.path.join(self.base, "daemon"))  # busy while we are in it: systemd's then
            _rmdir(self.base)

    def describe(self) -> dict[str, object]:
        """For ``status`` and ``procward info``."""
        return {
            "in_use": "yes",
            "path": self.base,
            "controllers": sorted(self.enabled),
            "missing": dict(sorted(self.missing.items())),
        }

    # -- one instance --------------------------------------------------------------------

    def path(self, app: str, index: int, second: int = 0) -> str:
        name = f"{app}.{index}" if not second else f"{app}.{index}.{second}"
        return os.path.join(self.apps, name)

    def make(self, spec: AppSpec, index: int, owner: object) -> str:
        """A cgroup for ``owner``, instance ``index`` of ``spec``: made if need be, limits set.

        ``<app>.<index>``, or ``<app>.<index>.1`` (.2, …) while another
        instance of that index (a surge reload's old one) holds it.
        """
        second = 0
        while self.owners.get(self.path(spec.name, index, second), owner) is not owner:
            second += 1
        path = self.path(spec.name, index, second)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path)
        self.owners[path] = owner
        for key, (filename, value) in limits_of(spec).items():
            if LIMIT_CONTROLLERS[key] in self.enabled:  # else said at load (configs.py)
                _write(os.path.join(path, filename), value)
        return path

    def kill(self, path: str) -> None:
        """SIGKILL everything in ``path`` at once, what forks meanwhile included."""
        with contextlib.suppress(FileNotFoundError):
            _write(os.path.join(path, "cgroup.kill"), "1")

    def members(self, path: str) -> list[int]:
        """Every process in ``path`` and the cgroups below it (an app may make some)."""
        found: list[int] = []
        for directory, _subdirs, _files in os.walk(path):
            found.extend(_pids(os.path.join(directory, "cgroup.procs")))
        return found

    def populated(self, path: str) -> bool:
        """Is a process (not a zombie) left in ``path`` or below?"""
        for line in _lines(os.path.join(path, "cgroup.events")):
            if line.startswith("populated "):
                return line.endswith(" 1")
        return False

    def signal_outside(self, path: str, pgid: int | None, sig: int) -> list[int]:
        """``sig`` to the members of ``path`` outside group ``pgid``; their pids.

        Each through a pidfd, then checked to be in ``path`` still: a pid that
        exited and was reused between the read and the signal is left alone.
        """
        done = []
        for pid in self.members(path):
            try:
                fd = os.pidfd_open(pid)
            except OSError:
                continue
            try:
                if os.getpgid(pid) != pgid and self._holds(path, pid):
                    signal.pidfd_send_signal(fd, sig)
                    done.append(pid)
            except (ProcessLookupError, PermissionError):
                pass
            finally:
                os.close(fd)
        return done

    def _holds(self, path: str, pid: int) -> bool:
        relative = path[len(os.path.dirname(self.base)) :] + "/"  # /procward.<key>/apps/…
        for line in _lines(f"/proc/{pid}/cgroup"):
            if line.startswith("0::"):
                return relative in line[3:] + "/"
        return False

    def adopt(self, path: str, owner: object) -> bool:
        """``owner`` takes back a cgroup after an upgrade, if it is one of ours and exists."""
        if os.path.dirname(path) != self.apps or not os.path.isdir(path):
            return False
        self.owners[path] = owner
        return True

    def release(self, path: str, owner: object) -> bool:
        """``owner`` is done with ``path``: removed; False if still busy (try again later)."""
        if self.owners.get(path) is owner:
            del self.owners[path]
        if path in self.owners:
            return True  # someone else's now
        return self.remove(path)

    def remove(self, path: str) -> bool:
        """``rmdir`` of an instance's cgroup (and any an app made below it); False if busy."""
        for directory, subdirs, _files in os.walk(path, topdown=False):
            for sub in subdirs:
                _rmdir(os.path.join(directory, sub))
        return _rmdir(path)

    def instance_dirs(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.apps) if e.is_dir())
        except OSError:
            return []

    def usage(self, path: str) -> Usage | None:
        """CPU (all of it, dead members' too), memory and processes of ``path``."""
        cpu = dict(_pairs(os.path.join(path, "cpu.stat")))
        if "usage_usec" not in cpu:
            return None
        members = self.members(path)
        memory = _number(os.path.join(path, "memory.current"))
        if memory is None:  # no memory controller: the members' resident sets
            memory = sum(_rss(pid) for pid in members)
        ticks = cpu["usage_usec"] * os.sysconf("SC_CLK_TCK") // 1_000_000
        return Usage(ticks, memory, len(members))

    def memory_events(self, path: str) -> int | None:
        """How often ``path`` went over ``memory.high`` (None without the controller)."""
        found = dict(_pairs(os.path.join(path, "memory.events")))
        return found.get("high")


def limits_of(spec: AppSpec) -> dict[str, tuple[str, str]]:
    """key -> (file, value) for the limits ``spec`` sets."""
    found = {}
    if spec.memory_max is not None:
        found["memory_max"] = ("memory.max", str(spec.memory_max))
    high = spec.memory_high if spec.memory_high is not None else spec.max_memory
    if high is not None:  # max_memory: the events say when it is passed (memoryguard.py)
        found["memory_high"] = ("memory.high", str(high))
    if spec.cpu_max is not None:
        found["cpu_max"] = ("cpu.max", f"{round(spec.cpu_max * CPU_PERIOD / 100)} {CPU_PERIOD}")
    if spec.pids_max is not None:
        found["pids_max"] = ("pids.max", str(spec.pids_max))
    return found


def cleaned_stale(cgroups: Cgroups, keep: Iterable[str], pids: Iterable[int] = ()) -> list[str]:
    """Cgroups a previous daemon left, but those of ``keep`` or holding ``pids``: killed; the paths.

    ``keep`` and ``pids`` are what an upgrade handed over: the cgroups it
    names, and (should one be missing from it) any cgroup a handed process is in.

    After a crash, the marker in their environment already ended the
    processes that kept it (``state.leftovers``); a cgroup also holds those
    that cleared it. The caller removes the paths once they are empty.
    """
    kept, handed = set(keep), set(pids)
    stale = [os.path.join(cgroups.apps, name) for name in cgroups.instance_dirs()]
    stale = [p for p in stale if p not in kept and not handed & set(cgroups.members(p))]
    for path in stale:
        if cgroups.populated(path):
            log.warning("ending what was left in %s by the last daemon", path)
            cgroups.kill(path)
    return stale


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _rmdir(path: str) -> bool:
    try:
        os.rmdir(path)
    except FileNotFoundError:
        return True
    except OSError as exc:
        if exc.errno not in (errno.EBUSY, errno.ENOTEMPTY):
            log.warning("cannot remove cgroup %s: %s", path, exc.strerror or exc)
        return False
    return True


def _lines(path: str) -> list[str]:
    """The lines of a cgroup file (small: one read), none if it cannot be read.

    ``os.open`` and one ``os.read``, not ``open()``: a crash storm reads an
    instance's ``cgroup.events`` at every exit, and the text layers doubled it.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return []
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    except OSError:
        return []
    finally:
        os.close(fd)
    return b"".join(chunks).decode(errors="replace").splitlines()


def _words(path: str) -> list[str]:
    return [word for line in _lines(path) for word in line.split()]


def _pids(path: str) -> list[int]:
    return [int(line) for line in _lines(path) if line.strip().isdigit()]


def _pairs(path: str) -> Iterable[tuple[str, int]]:
    for line in _lines(path):
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            yield key, int(value)


def _number(path: str) -> int | None:
    lines = _lines(path)
    return int(lines[0]) if lines and lines[0].isdigit() else None


def _rss(pid: int) -> int:
    lines = _lines(f"/proc/{pid}/statm")
    try:
        return int(lines[0].split()[1]) * PAGE_SIZE
    except (IndexError, ValueError):
        return 0
