"""Credentials directories of ``secrets_as = "files"``: modes, removal, the byte cap."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from procward.supervision.credentials import CredentialFiles


def mode(path: str) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_directory_of_its_own_with_one_read_only_file_per_secret(tmp_path: Path) -> None:
    files = CredentialFiles(str(tmp_path / "credentials"))
    old = os.umask(0)
    try:
        path = files.write("api.0", {"db_url": b"postgres://x", "k": b"\xff\0"})
    finally:
        os.umask(old)
    assert os.path.dirname(path) == files.root
    assert os.path.basename(path).startswith("api.0.")
    assert mode(files.root) == 0o700 and mode(path) == 0o700
    assert sorted(os.listdir(path)) == ["db_url", "k"]
    assert mode(os.path.join(path, "db_url")) == 0o400
    assert Path(path, "k").read_bytes() == b"\xff\0"
    other = files.write("api.0", {"db_url": b"y"})  # a surge: two processes of one index
    assert other != path
    assert files.total == len(b"postgres://x") + 2 + 1
    files.remove(path)
    assert not os.path.exists(path) and os.path.exists(other)
    assert files.total == 1


def test_the_cap_on_all_directories_refuses_more(tmp_path: Path) -> None:
    files = CredentialFiles(str(tmp_path / "c"), max_bytes=10)
    files.write("a.0", {"s": b"12345678"})
    with pytest.raises(OSError, match="would pass the 10 bytes"):
        files.write("a.1", {"s": b"123"})
    assert len(os.listdir(files.root)) == 1  # nothing left of the refused one


def test_stale_directories_go_but_those_kept(tmp_path: Path) -> None:
    files = CredentialFiles(str(tmp_path / "c"))
    a, b = files.write("a.0", {"s": b"1"}), files.write("b.0", {"s": b"2"})
    fresh = CredentialFiles(files.root)  # the next daemon
    assert fresh.remove_stale(keep={b}) == [a]
    assert os.listdir(files.root) == [os.path.basename(b)]
    assert CredentialFiles(str(tmp_path / "none")).remove_stale() == []


def test_only_its_own_directories_are_removed(tmp_path: Path) -> None:
    files = CredentialFiles(str(tmp_path / "c"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    files.remove(str(elsewhere))
    assert elsewhere.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving files to another user needs root")
def test_another_users_directory_is_theirs_under_a_root_they_may_pass(tmp_path: Path) -> None:
    import pwd

    from procward.supervision.credentials import shared_root_for

    nobody = pwd.getpwnam("nobody")
    base = tmp_path / "shared"
    shared = shared_root_for("/some/runtime", base=str(base))
    assert shared == shared_root_for(
        "/some/runtime", base=str(base)
    )  # the same daemon, the same root
    files = CredentialFiles(str(tmp_path / "c"), shared_root=shared)
    path = files.write("api.0", {"token": b"t"}, owner=(nobody.pw_uid, nobody.pw_gid))
    assert os.path.dirname(path) == shared
    assert mode(str(base)) == 0o711 and mode(shared) == 0o711  # passable, not listable
    st = os.stat(path)
    assert (st.st_uid, st.st_gid, mode(path)) == (nobody.pw_uid, nobody.pw_gid, 0o500)
    token = os.stat(os.path.join(path, "token"))
    assert (token.st_uid, mode(os.path.join(path, "token"))) == (nobody.pw_uid, 0o400)
    assert CredentialFiles(files.root, shared_root=shared).remove_stale() == [path]
    assert not os.path.exists(shared)  # the last one gone: no empty root left behind


def test_a_shared_root_writable_by_others_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "shared"
    base.mkdir()
    os.chmod(base, 0o777)
    files = CredentialFiles(str(tmp_path / "c"), shared_root=str(base / "key"))
    with pytest.raises(OSError, match="is not a directory of root's that only root writes"):
        files.write("api.0", {"token": b"t"}, owner=(65534, 65534))
    assert not (base / "key").exists()


def test_each_daemon_has_a_shared_root_of_its_own() -> None:
    from procward.supervision.credentials import shared_root_for

    names = {shared_root_for(d, base="/b") for d in ("/a/b", "/a_b", "/a_sb", "/a/b/", "/")}
    assert len(names) == 4  # "/a/b" and "/a/b/" are one directory
    assert shared_root_for("/tmp/pw-x/default", base="/b") == "/b/tmp_spw-x_sdefault"
    long = shared_root_for("/" + "d/" * 200, base="/b")
    assert len(os.path.basename(long)) < 255
