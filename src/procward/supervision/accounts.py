"""Whose an app's processes are: ``user``, ``group``, ``umask`` and ``log_owner``.

The readers (``appkeys.READERS``) check the form of a value. The user
database is asked twice: when a file is loaded (``problems``), so that a user
who does not exist, or one a daemon that is not root cannot become, is
listed with the file's other problems; and at every spawn (``resolve``), so
that a process gets the account's groups and home as they are now, as
``initgroups`` would give them, and an account deleted since the load is a
spawn failure that names it.

A daemon that is not root can only run apps as itself: ``user`` naming its
own user is allowed (the environment says so), and nothing is changed at
exec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from procward.kit._structs import Struct
from procward.supervision.spec import ConfigError, Problem
from procward.supervision.values import show

__all__ = [
    "Account",
    "problems",
    "read_account",
    "read_log_owner",
    "read_umask",
    "resolve",
]

LOG_OWNERS = ("daemon", "app")


class Account(Struct):
    """One user as the user database has it now: what a process of theirs runs as."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]  # supplementary, the group included
    home: str
    shell: str

    def env(self) -> dict[str, str]:
        """HOME, USER, LOGNAME and SHELL of this account."""
        return {"HOME": self.home, "USER": self.name, "LOGNAME": self.name, "SHELL": self.shell}


def read_account(value: object, _base_dir: str) -> str | int:
    """A name (``"www-data"``) or a number (``33`` or ``"33"``) of a user or a group."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**32 - 1:
        return value
    if isinstance(value, str) and value.strip():
        text = value.strip()
        if text.isdigit():
            return read_account(int(text), _base_dir)
        if ":" not in text and "/" not in text and "\0" not in text and text.isprintable():
            return text
    raise ValueError(f"must be a name like 'www-data' or a number like 33, got {show(value)}")


def read_umask(value: object, _base_dir: str) -> int:
    """``"027"`` (octal digits, as the ``umask`` command) or a number (TOML's ``0o027``)."""
    number = value
    if isinstance(value, str) and 0 < len(value) <= 4 and set(value) <= set("01234567"):
        number = int(value, 8)
    if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 0o777:
        return number
    raise ValueError(
        f"must be octal digits like '027' (or a number like 0o027), at most '777', "
        f"got {show(value)}"
    )


def read_log_owner(value: object, _base_dir: str) -> str:
    if isinstance(value, str) and value in LOG_OWNERS:
        return value
    raise ValueError(f"must be 'daemon' or 'app', got {show(value)}")


def resolve(app: str, user: str | int, group: str | int | None = None) -> Account:
    """``user`` (and ``group``) as the user database has them now; ``ConfigError`` if not."""
    try:
        return _lookup(user, group)
    except LookupError as e:
        key = "group" if isinstance(e, _NoGroup) else "user"
        raise ConfigError([Problem(app, key, str(e))]) from None


class _NoGroup(LookupError):
    pass


def _lookup(user: str | int, group: str | int | None) -> Account:
    import pwd

    try:
        entry = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
    except KeyError:
        if isinstance(user, str):
            raise LookupError(f"no user {user!r} in the user database") from None
        entry = None  # a bare uid: allowed, with a group given
    gid = _group_id(group) if group is not None else None
    if entry is None:
        if gid is None:
            raise LookupError(
                f"uid {user} has no entry in the user database; give its group too (group = ...)"
            )
        return Account(str(user), int(user), gid, (gid,), "/", "/bin/sh")
    gid = entry.pw_gid if gid is None else gid
    groups = tuple(dict.fromkeys(os.getgrouplist(entry.pw_name, gid)))
    return Account(
        entry.pw_name, entry.pw_uid, gid, groups, entry.pw_dir or "/", entry.pw_shell or "/bin/sh"
    )


def _group_id(group: str | int) -> int:
    if isinstance(group, int):
        return group
    import grp

    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        raise _NoGroup(f"no group {group!r} in the group database") from None


def problems(fields: Mapping[str, object], *, euid: int | None = None) -> list[tuple[str, str]]:
    """What is wrong with an app's ``user`` and ``group`` for a daemon running as ``euid``."""
    user, group = fields.get("user"), fields.get("group")
    if user is None:
        found = [("group", "needs user: set user too")] if group is not None else []
        if fields.get("log_owner") == "app":
            found.append(("log_owner", "'app' needs user: the files would stay the daemon's"))
        return found
    assert isinstance(user, str | int) and (group is None or isinstance(group, str | int))
    try:
        account = _lookup(user, group)
    except LookupError as e:
        return [("group" if isinstance(e, _NoGroup) else "user", str(e))]
    euid = os.geteuid() if euid is None else euid
    if euid == 0:
        return []
    found = []
    if account.uid != euid:
        found.append(("user", _not_root(euid, f"start apps as {show(user)}")))
    if group is not None and account.gid != os.getegid():
        found.append(("group", _not_root(euid, f"start apps in group {show(group)}")))
    return found


def _not_root(euid: int, what: str) -> str:
    return (
        f"the daemon runs as uid {euid}, not root, so it cannot {what}; "
        "remove the key, or run the daemon as root"
    )
