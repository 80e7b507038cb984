"""``user``, ``group``, ``umask``, ``log_owner``: readers, the load-time check, resolution."""

from __future__ import annotations

import grp
import os
import pwd

import pytest

from procward.supervision.accounts import (
    problems,
    read_account,
    read_log_owner,
    read_umask,
    resolve,
)
from procward.supervision.config import ConfigError, parse_app

NOBODY = pwd.getpwnam("nobody")


@pytest.mark.parametrize(
    ("value", "read"),
    [("www-data", "www-data"), (33, 33), ("33", 33), (" nobody ", "nobody"), (0, 0)],
)
def test_a_user_or_group_is_a_name_or_a_number(value: object, read: object) -> None:
    assert read_account(value, "/") == read


@pytest.mark.parametrize("value", [True, -1, "", "a:b", "../x", 1.5, [], 2**32])
def test_anything_else_is_refused_quoting_it(value: object) -> None:
    with pytest.raises(ValueError, match="must be a name like 'www-data' or a number like 33"):
        read_account(value, "/")


@pytest.mark.parametrize(
    ("value", "mask"), [("027", 0o27), ("0077", 0o77), ("7", 0o7), (0o022, 0o22), ("777", 0o777)]
)
def test_a_umask_is_octal_digits_or_a_number(value: object, mask: int) -> None:
    assert read_umask(value, "/") == mask


@pytest.mark.parametrize("value", ["1777", "08", "abc", "", -1, 0o1000, True, "0o22"])
def test_a_bad_umask_is_refused_quoting_it(value: object) -> None:
    with pytest.raises(ValueError, match=r"must be octal digits like '027'.*got"):
        read_umask(value, "/")


def test_log_owner_is_daemon_or_app() -> None:
    assert read_log_owner("app", "/") == "app"
    with pytest.raises(ValueError, match="must be 'daemon' or 'app', got 'root'"):
        read_log_owner("root", "/")


def test_an_account_has_its_groups_home_and_shell() -> None:
    account = resolve("web", "nobody")
    assert (account.uid, account.gid) == (NOBODY.pw_uid, NOBODY.pw_gid)
    assert account.groups == tuple(os.getgrouplist("nobody", NOBODY.pw_gid))
    assert account.env() == {
        "HOME": NOBODY.pw_dir,
        "USER": "nobody",
        "LOGNAME": "nobody",
        "SHELL": NOBODY.pw_shell,
    }
    assert resolve("web", NOBODY.pw_uid) == account  # by number, the same entry


def test_a_group_replaces_the_primary_one() -> None:
    root_group = grp.getgrgid(0).gr_name
    account = resolve("web", "nobody", root_group)
    assert account.gid == 0 and 0 in account.groups


def test_a_uid_without_an_entry_needs_a_group() -> None:
    free = next(uid for uid in range(40000, 50000) if not _has_entry(uid))
    with pytest.raises(ConfigError, match=f"apps.web.user: uid {free} has no entry"):
        resolve("web", free)
    account = resolve("web", free, 40000)
    assert (account.uid, account.gid, account.groups, account.home) == (free, 40000, (40000,), "/")


def _has_entry(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def test_unknown_names_say_which_database() -> None:
    with pytest.raises(ConfigError, match=r"apps.web.user: no user 'no-such-x'"):
        resolve("web", "no-such-x")
    with pytest.raises(ConfigError, match=r"apps.web.group: no group 'no-such-g'"):
        resolve("web", "nobody", "no-such-g")


def test_a_daemon_that_is_not_root_cannot_start_apps_as_someone_else() -> None:
    found = problems({"user": "root"}, euid=NOBODY.pw_uid)
    assert found == [
        (
            "user",
            f"the daemon runs as uid {NOBODY.pw_uid}, not root, so it cannot start apps as "
            "'root'; remove the key, or run the daemon as root",
        )
    ]
    assert problems({"user": "nobody"}, euid=NOBODY.pw_uid) == []  # itself: fine
    assert problems({"user": "nobody"}, euid=0) == []


def test_group_and_log_owner_need_a_user() -> None:
    assert problems({"group": "nogroup", "log_owner": "app"}) == [
        ("group", "needs user: set user too"),
        ("log_owner", "'app' needs user: the files would stay the daemon's"),
    ]


def test_the_problems_are_listed_with_the_apps_others() -> None:
    table = {"cmd": "x", "user": "no-such-x", "umask": "9", "nice": 20}
    with pytest.raises(ConfigError) as caught:
        parse_app("web", table, base_dir="/")
    assert [p.key for p in caught.value.problems] == ["umask", "nice", "user"]
