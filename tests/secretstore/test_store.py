"""The secret store in process: real files, real keys, real XChaCha20-Poly1305; no daemon."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from procward.secretstore import InvalidSecret, Refused, SecretStore, SecretsUnavailable
from procward.secretstore import store as store_module
from procward.secretstore.keys import ENV_COMMAND, ENV_KEY
from procward.secretstore.sealed import HEADER, SealedWithOtherKey, key_id, unseal

DB_URL = b"postgres://app:hunter2-planted@db/app"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    (home / "default").mkdir(parents=True, mode=0o700)
    return {"PROCWARD_HOME": str(home)}


def make(env: dict[str, str]) -> SecretStore:
    return SecretStore(
        os.path.join(env["PROCWARD_HOME"], "default"), "default", env=env, harden=False
    )


def key_file(env: dict[str, str]) -> str:
    return os.path.join(env["PROCWARD_HOME"], ".keys", "default.key")


def mode(path: str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def a_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_values_round_trip_and_never_sit_in_the_file_in_clear(env: dict[str, str]) -> None:
    store = make(env)
    store.set("db_url", DB_URL, by="uid 1000")
    store.set("blob", b"\x00\xff\x10binary", by="uid 1000")
    again = make(env)  # nothing cached: a new object reads the file
    assert again.values(["db_url", "blob"]) == {"db_url": DB_URL, "blob": b"\x00\xff\x10binary"}
    assert again.names() == frozenset({"db_url", "blob"})
    shown = again.info()
    assert [(i.name, i.size, i.set_by) for i in shown] == [
        ("blob", 9, "uid 1000"),
        ("db_url", len(DB_URL), "uid 1000"),
    ]
    raw = Path(store.path).read_bytes()
    assert b"hunter2" not in raw and b"db_url" not in raw
    assert mode(store.path) == 0o600


def test_no_store_is_an_empty_one_and_reading_makes_no_key(env: dict[str, str]) -> None:
    store = make(env)
    assert store.names() == frozenset()
    assert store.info() == []
    assert store.values([]) == {}
    assert store.problem() is None
    assert not os.path.exists(key_file(env))
    assert not os.path.exists(os.path.dirname(key_file(env)))


def test_the_key_is_made_by_the_first_write_private_and_apart_from_the_state(
    env: dict[str, str],
) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    path = key_file(env)
    assert mode(path) == 0o600 and mode(os.path.dirname(path)) == 0o700
    assert not path.startswith(os.path.dirname(store.path) + os.sep)
    assert len(base64.b64decode(Path(path).read_bytes())) == 32


def test_missing_names_are_named(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    with pytest.raises(SecretsUnavailable, match="no secret named 'b', 'c' in the store") as caught:
        store.values(["a", "b", "c"])
    assert caught.value.missing == ("b", "c")


def test_a_damaged_store_is_read_from_its_bak(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    store.set("b", b"2", by="t")  # .bak holds the store with "a" only
    raw = bytearray(Path(store.path).read_bytes())
    raw[-1] ^= 0xFF
    Path(store.path).write_bytes(bytes(raw))
    assert store.names() == frozenset({"a"})
    assert store.values(["a"]) == {"a": b"1"}


def test_a_damaged_store_and_bak_say_so_and_how_to_reset(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    store.set("a", b"2", by="t")
    for path in (store.path, store.path + ".bak"):
        raw = bytearray(Path(path).read_bytes())
        raw[HEADER] ^= 0x01  # the ciphertext's first byte
        Path(path).write_bytes(bytes(raw))
    why = store.problem()
    assert why is not None
    assert "fails authentication with its own key: the file is damaged" in why
    assert "procward secret reset" in why and "sealed with key" not in why
    assert store.names() is None


def test_a_wrong_key_is_said_plainly_and_nothing_is_overwritten(env: dict[str, str]) -> None:
    first = {**env, ENV_KEY: a_key()}
    make(first).set("a", b"1", by="t")
    other = make({**env, ENV_KEY: a_key()})
    before = Path(other.path).read_bytes()
    why = other.problem()
    assert why is not None
    sealed = key_id(base64.b64decode(first[ENV_KEY]))
    assert f"was sealed with key {sealed}, but the key from ${ENV_KEY} is" in why
    assert "restore the key it was sealed with, or run `procward secret reset`" in why
    assert other.names() is None
    with pytest.raises(SecretsUnavailable, match="sealed with key"):
        other.values(["a"])
    with pytest.raises(SecretsUnavailable, match=r"^cannot set a secret: .* sealed with key"):
        other.set("b", b"2", by="t")
    with pytest.raises(SecretsUnavailable, match=r"^cannot remove a secret"):
        other.remove("a", by="t")
    with pytest.raises(SecretsUnavailable, match=r"^cannot rotate the key"):
        other.rotate_key()
    assert Path(other.path).read_bytes() == before


def test_a_store_without_its_key_is_not_given_a_new_one(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    os.unlink(key_file(env))
    with pytest.raises(SecretsUnavailable, match="exists but no key was found"):
        store.set("b", b"2", by="t")
    assert not os.path.exists(key_file(env))


@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604])
def test_a_loose_key_file_is_refused_not_fixed(env: dict[str, str], loose: int) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    os.chmod(key_file(env), loose)
    expected = (
        f"{key_file(env)} has permissions {loose:04o}; it must be private (0600). "
        f"Fix it with: chmod 600 {key_file(env)}"
    )
    assert store.problem() == expected
    with pytest.raises(SecretsUnavailable):
        store.values(["a"])
    assert mode(key_file(env)) == loose


def test_a_loose_store_is_refused(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    os.chmod(store.path, 0o644)
    assert store.problem() == (
        f"{store.path} has permissions 0644; it must be private (0600). "
        f"Fix it with: chmod 600 {store.path}"
    )
    assert mode(store.path) == 0o644


def test_a_loose_key_directory_is_refused(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    folder = os.path.dirname(key_file(env))
    os.chmod(folder, 0o755)
    why = store.problem()
    assert why is not None and f"Fix it with: chmod 700 {folder}" in why


def test_rotating_keeps_every_value_and_the_old_key_opens_nothing(env: dict[str, str]) -> None:
    store = make(env)
    for n in range(5):
        store.set(f"s{n}", f"value {n}".encode(), by="t")
    old = base64.b64decode(Path(key_file(env)).read_bytes())
    count, new_id = store.rotate_key()
    assert count == 5
    new = base64.b64decode(Path(key_file(env)).read_bytes())
    assert new != old and key_id(new) == new_id and mode(key_file(env)) == 0o600
    assert make(env).values([f"s{n}" for n in range(5)]) == {
        f"s{n}": f"value {n}".encode() for n in range(5)
    }
    for path in (store.path, store.path + ".bak"):
        with pytest.raises(SealedWithOtherKey):
            unseal(Path(path).read_bytes(), [old])
    leftovers = sorted(os.listdir(os.path.dirname(key_file(env))))
    assert leftovers == ["default.key"]


def test_a_crash_between_the_key_and_the_store_is_recovered(env: dict[str, str]) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    store.set("b", b"2", by="t")
    old = base64.b64decode(Path(key_file(env)).read_bytes())
    # The rotation's first half, then "a crash": the new key is in place, the
    # store is still sealed with the old one, which is kept as .old.
    store.keys.replace(os.urandom(32))
    assert os.path.exists(key_file(env) + ".old")
    assert make(env).values(["a", "b"]) == {"a": b"1", "b": b"2"}
    make(env).set("c", b"3", by="t")  # the next write finishes the rotation
    assert not os.path.exists(key_file(env) + ".old")
    for path in (store.path, store.path + ".bak"):
        with pytest.raises(SealedWithOtherKey):
            unseal(Path(path).read_bytes(), [old])
    assert make(env).values(["a", "b", "c"]) == {"a": b"1", "b": b"2", "c": b"3"}


def test_a_crash_before_the_key_is_renamed_leaves_a_key_that_is_never_used(
    env: dict[str, str],
) -> None:
    store = make(env)
    store.set("a", b"1", by="t")
    with open(key_file(env) + ".new", "w") as f:
        f.write(a_key())  # written, never renamed
    assert store.values(["a"]) == {"a": b"1"}
    store.rotate_key()
    assert sorted(os.listdir(os.path.dirname(key_file(env)))) == ["default.key"]
    assert make(env).values(["a"]) == {"a": b"1"}


def test_a_key_from_the_environment_cannot_be_rotated_here(env: dict[str, str]) -> None:
    store = make({**env, ENV_KEY: a_key()})
    store.set("a", b"1", by="t")
    assert not os.path.exists(key_file(env))  # an env key: no key file made
    with pytest.raises(Refused, match=f"the key comes from \\${ENV_KEY}"):
        store.rotate_key()


def test_reset_moves_an_unreadable_store_aside_and_starts_empty(env: dict[str, str]) -> None:
    store = make(env)
    with pytest.raises(Refused, match="readable: there is nothing to reset"):
        store.reset()
    store.set("a", b"1", by="t")
    store.set("a", b"2", by="t")
    with pytest.raises(Refused, match="readable"):
        store.reset()
    os.unlink(key_file(env))
    moved, why = store.reset()
    assert "no key was found" in why
    assert [os.path.basename(p).split(".unreadable-")[0] for p in moved] == [
        "secrets.enc",
        "secrets.enc.bak",
    ]
    assert all(os.path.exists(p) for p in moved)
    assert store.names() == frozenset()
    store.set("b", b"3", by="t")  # a new key, a new store
    assert make(env).values(["b"]) == {"b": b"3"}


def test_bounds(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    store = make(env)
    for bad in ("", "-x", ".x", "a b", "a/b", "x" * 65, "é"):
        with pytest.raises(InvalidSecret, match="invalid secret name"):
            store.set(bad, b"1", by="t")
    store.set("A.b-c_9" + "x" * 57, b"1", by="t")  # 64 characters
    with pytest.raises(InvalidSecret, match="cannot be empty"):
        store.set("a", b"", by="t")
    with pytest.raises(InvalidSecret, match="at most 65536 bytes, got 65537"):
        store.set("a", b"x" * 65537, by="t")
    store.set("big", b"x" * 65536, by="t")
    monkeypatch.setattr(store_module, "MAX_SECRETS", 3)
    store.set("third", b"1", by="t")
    with pytest.raises(InvalidSecret, match="at most 3 secrets"):
        store.set("fourth", b"1", by="t")
    store.set("third", b"changed", by="t")  # a change is not one more


def test_remove(env: dict[str, str]) -> None:
    store = make(env)
    assert store.remove("a", by="t") is False
    store.set("a", b"1", by="t")
    assert store.remove("a", by="t") is True
    assert store.names() == frozenset()


def test_key_sources_in_order(env: dict[str, str], tmp_path: Path) -> None:
    env_key, command_key, credential_key = a_key(), a_key(), a_key()
    credentials = tmp_path / "creds"
    credentials.mkdir(mode=0o700)
    (credentials / "procward-secrets.key").write_text(credential_key)
    os.chmod(credentials / "procward-secrets.key", 0o400)
    full = {
        **env,
        ENV_KEY: env_key,
        ENV_COMMAND: f"printf '%s\\n' {command_key}",
        "CREDENTIALS_DIRECTORY": str(credentials),
    }
    expected = [env_key, command_key, credential_key]
    for drop in (None, ENV_KEY, ENV_COMMAND):
        if drop:
            del full[drop]
        found = make(full).keys.find()
        assert found is not None
        assert found.material == base64.b64decode(expected.pop(0))


def test_the_key_command_runs_once_not_at_every_spawn(env: dict[str, str], tmp_path: Path) -> None:
    """A spawn must not wait for a vault: the key is kept, like $PROCWARD_SECRETS_KEY's."""
    runs = tmp_path / "runs"
    store = make({**env, ENV_COMMAND: f"echo run >> {runs}; printf '%s\\n' {a_key()}"})
    store.set("a", b"1", by="t")
    for _ in range(5):
        assert store.values(["a"]) == {"a": b"1"}
    assert runs.read_text().splitlines() == ["run"]


def test_a_failing_key_command_says_why_without_the_command(env: dict[str, str]) -> None:
    failing = make(
        {**env, ENV_COMMAND: "echo token=abc >/dev/null; echo 'vault: sealed' >&2; exit 3"}
    )
    assert failing.problem() == (
        f"the key command in ${ENV_COMMAND} failed (exit status 3): vault: sealed"
    )
    silent = make({**env, ENV_COMMAND: "echo not-a-key"})
    why = silent.problem()
    assert why is not None and "holds no key: it must be the base64 of 32 random bytes" in why
    assert "not-a-key" not in why


def test_a_bad_key_in_the_environment_is_never_echoed(env: dict[str, str]) -> None:
    why = make({**env, ENV_KEY: "c2VjcmV0LXRleHQ="}).problem()
    assert why is not None and why.startswith(f"${ENV_KEY} holds no key")
    assert "c2VjcmV0" not in why


def test_the_first_decryption_makes_the_process_non_dumpable(env: dict[str, str]) -> None:
    make(env).set("a", b"1", by="t")
    code = (
        "import sys; from procward.secretstore import SecretStore\n"
        "from procward.kit._prctl import PR_GET_DUMPABLE, prctl\n"
        "store = SecretStore(sys.argv[1], 'default')\n"
        "print(prctl(PR_GET_DUMPABLE), 'nacl' in sys.modules)\n"
        "store.names()\n"
        "print(prctl(PR_GET_DUMPABLE), 'nacl' in sys.modules)\n"
    )
    state_dir = os.path.join(env["PROCWARD_HOME"], "default")
    done = subprocess.run(
        [sys.executable, "-c", code, state_dir],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
        check=True,
    )
    assert done.stdout.split("\n")[:2] == ["1 False", "0 True"]
