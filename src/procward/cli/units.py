"""Where systemd looks for this instance's unit, and whether it is enabled.

``procward service`` prints a unit, ``procward startup`` writes it where
``systemctl --user`` finds it, and ``procward doctor`` looks for it. All three
agree on its name and places through this module. Whether a unit is enabled
is read from the ``*.wants/`` links ``systemctl enable`` makes, not asked of
``systemctl``: doctor must answer where systemd does not run, or runs for
another user, and without a process per check.
"""

from __future__ import annotations

import os

from procward.kit._paths import InstancePaths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


def unit_name(paths: InstancePaths) -> str:
    """``procward`` for the default instance, ``procward-NAME`` for another."""
    return "procward" if paths.instance == "default" else f"procward-{paths.instance}"


class Systemd:
    """systemd's unit directories for this user, and whether systemd runs (paths for tests).

    ``user_dirs`` come first, in systemd's order; the first is where
    ``systemctl --user enable`` writes, and where ``startup`` puts the unit.
    """

    __slots__ = ("booted", "linger_dir", "system_dirs", "user", "user_dirs")

    def __init__(
        self,
        *,
        booted: bool,
        user: str,
        user_dirs: Sequence[str],
        system_dirs: Sequence[str],
        linger_dir: str,
    ) -> None:
        self.booted = booted
        self.user = user
        self.user_dirs = tuple(user_dirs)
        self.system_dirs = tuple(system_dirs)
        self.linger_dir = linger_dir

    @classmethod
    def here(cls, env: Mapping[str, str] | None = None) -> Systemd:
        """This machine's: booted with systemd when ``/run/systemd/system`` exists (sd_booted)."""
        import pwd

        env = os.environ if env is None else env
        config = env.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
        data = env.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
        return cls(
            booted=os.path.isdir("/run/systemd/system"),
            user=pwd.getpwuid(os.geteuid()).pw_name,
            user_dirs=(
                os.path.join(config, "systemd", "user"),
                "/etc/systemd/user",
                os.path.join(data, "systemd", "user"),
                "/usr/lib/systemd/user",
            ),
            system_dirs=("/etc/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"),
            linger_dir="/var/lib/systemd/linger",
        )

    def lingers(self) -> bool:
        """Does the user's manager start at boot, not at login (``loginctl enable-linger``)?"""
        return os.path.exists(os.path.join(self.linger_dir, self.user))

    def systemctl(self, unit: UnitFiles, verb: str) -> str:
        """The ``systemctl`` command line for ``verb`` (``enable --now``...) on ``unit``."""
        scope = "--user " if unit.user else ""
        return f"systemctl {scope}{verb} {unit.service}"


class UnitFiles:
    """This instance's unit as found: its file (None: none) and whether a ``.wants`` links it."""

    __slots__ = ("enabled", "path", "service", "user")

    def __init__(self, service: str, path: str | None, *, enabled: bool, user: bool) -> None:
        self.service = service
        self.path = path
        self.enabled = enabled
        self.user = user


def find_unit(name: str, systemd: Systemd) -> UnitFiles:
    """``NAME.service`` among the user units, then the system units.

    Enabled means linked from some ``*.wants`` directory of the same scope,
    for the service or for its socket unit (socket activation starts it).
    """
    service = f"{name}.service"
    for dirs, user in ((systemd.user_dirs, True), (systemd.system_dirs, False)):
        for directory in dirs:
            path = os.path.join(directory, service)
            if os.path.exists(path):
                wanted = _wanted(dirs, (service, f"{name}.socket"))
                return UnitFiles(service, path, enabled=wanted, user=user)
    return UnitFiles(service, None, enabled=False, user=True)


def _wanted(dirs: Sequence[str], names: Sequence[str]) -> bool:
    for directory in dirs:
        try:
            wants = [e.path for e in os.scandir(directory) if e.name.endswith(".wants")]
        except OSError:
            continue
        if any(os.path.lexists(os.path.join(w, name)) for w in wants for name in names):
            return True
    return False
