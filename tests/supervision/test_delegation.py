"""Where a daemon's cgroups go, read from files a test writes: mountinfo, /proc/self/cgroup."""

from __future__ import annotations

import os
from pathlib import Path

from procward.supervision.delegation import detect, own_cgroup, subtree_name, v2_mount

HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw
"""


def _host(tmp_path: Path, own: str = "/system.slice/procward.service") -> tuple[str, str, str]:
    """A fake cgroup2 tree under ``tmp_path``; (mountinfo, self cgroup, own directory)."""
    mount = tmp_path / "unified"
    directory = mount / own.lstrip("/")
    directory.mkdir(parents=True)
    (directory / "cgroup.procs").write_text("")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(HYBRID.format(mount=mount))
    self_cgroup = tmp_path / "cgroup"
    self_cgroup.write_text(f"4:memory:/x\n0::{own}\n")
    return str(mountinfo), str(self_cgroup), str(directory)


def test_the_v2_mount_is_read_from_mountinfo_not_assumed(tmp_path: Path) -> None:
    mountinfo, _, _ = _host(tmp_path)
    assert v2_mount(mountinfo) == str(tmp_path / "unified")
    assert v2_mount(str(tmp_path / "none")) is None


def test_a_writable_own_cgroup_gives_a_subtree_named_after_the_state_dir(tmp_path: Path) -> None:
    mountinfo, self_cgroup, own = _host(tmp_path)
    found = detect("/srv/state", {}, mountinfo=mountinfo, self_cgroup=self_cgroup)
    assert found.base == os.path.join(own, subtree_name("/srv/state"))
    assert found.own == own and found.reason is None and not found.given
    other = detect("/srv/other", {}, mountinfo=mountinfo, self_cgroup=self_cgroup)
    assert other.base != found.base  # two daemons in one cgroup never share a subtree


def test_a_daemon_that_moved_into_its_subtree_finds_the_same_one(tmp_path: Path) -> None:
    """After an upgrade's exec (or any restart in place) the daemon sits in <subtree>/daemon."""
    name = subtree_name("/srv/state")
    mountinfo, self_cgroup, _ = _host(tmp_path, f"/svc/{name}/daemon")
    (tmp_path / "unified" / "svc" / "cgroup.procs").write_text("")
    found = detect("/srv/state", {}, mountinfo=mountinfo, self_cgroup=self_cgroup)
    assert found.own == str(tmp_path / "unified" / "svc")
    assert found.base == str(tmp_path / "unified" / "svc" / name)


def test_not_in_use_says_why(tmp_path: Path) -> None:
    mountinfo, self_cgroup, own = _host(tmp_path)
    off = detect("/s", {"PROCWARD_CGROUP": "off"}, mountinfo=mountinfo, self_cgroup=self_cgroup)
    assert off.base is None and off.reason == "turned off (PROCWARD_CGROUP=off)"
    unmounted = detect("/s", {}, mountinfo=str(tmp_path / "no"), self_cgroup=self_cgroup)
    assert unmounted.reason == "no cgroup v2 hierarchy is mounted"
    missing = detect(
        "/s", {"PROCWARD_CGROUP": "/nope"}, mountinfo=mountinfo, self_cgroup=self_cgroup
    )
    assert missing.base is None and "no such cgroup" in (missing.reason or "")
    if os.geteuid() != 0:  # root may write anything: no way to show "not delegated" as root
        os.chmod(own, 0o555)
        found = detect("/s", {}, mountinfo=mountinfo, self_cgroup=self_cgroup)
        assert found.reason == f"cgroup {own} is not delegated to this daemon"


def test_a_given_cgroup_is_the_subtree_itself(tmp_path: Path) -> None:
    mountinfo, self_cgroup, own = _host(tmp_path)
    env = {"PROCWARD_CGROUP": "/system.slice/procward.service"}
    found = detect("/s", env, mountinfo=mountinfo, self_cgroup=self_cgroup)
    assert found.given and found.base == own == found.own


def test_own_cgroup_reads_the_unified_line(tmp_path: Path) -> None:
    path = tmp_path / "cgroup"
    path.write_text("9:name=systemd:/\n0::/\n")
    assert own_cgroup("/m", str(path)) == "/m"
    path.write_text("4:memory:/x\n")
    assert own_cgroup("/m", str(path)) is None
