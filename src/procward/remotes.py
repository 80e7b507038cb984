"""Named remote daemons: ``$XDG_CONFIG_HOME/procward/remotes.toml`` (``~/.config/…``).

    [prod]
    url = "tcp://10.0.0.5:9700"
    token_file = "~/.config/procward/prod.token"   # or: token_command = "pass show pw/prod"
    ca_file = "~/.config/procward/prod-ca.pem"     # TLS, verifying the daemon against this CA

``Client(remote="prod")``, ``procward --connect prod`` and ``procward @prod
status`` all read it here. The file says where tokens are, so it must be the
user's own and mode 0600 (or stricter): anything looser is refused, naming
the file, its mode and the ``chmod`` that fixes it, as ssh refuses a private
key that others may read. A ``token_file`` is held to the same rule.

``resolve(name)`` is the one question the CLI asks: a ``Remote``, or None
when ``name`` is no alias here (the fleet's ``@NODE`` is asked next). It
imports ``tomllib`` only when there is a file to read: the CLI's start-up
does not pay for it (decision 0005).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # not `typing`: the CLI imports this module
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

KEYS = {"url", "token_file", "token_command", "ca_file", "client_cert", "client_key"}


class RemotesError(ValueError):
    """The remotes file (or a token it names) cannot be used: why, and the fix."""


class Remote:
    """One alias of the remotes file: where the daemon listens and how to authenticate."""

    __slots__ = (
        "ca_file",
        "client_cert",
        "client_key",
        "name",
        "source",
        "token_command",
        "token_file",
        "url",
    )

    def __init__(self, name: str, source: str, table: Mapping[str, Any]) -> None:
        self.name = name
        self.source = source  # the remotes file, for messages
        self.url: str = table["url"]
        here = os.path.dirname(source)
        self.token_file = _path(table.get("token_file"), here)
        self.token_command: str | list[str] | None = table.get("token_command")
        self.ca_file = _path(table.get("ca_file"), here)
        self.client_cert = _path(table.get("client_cert"), here)
        self.client_key = _path(table.get("client_key"), here)

    def __repr__(self) -> str:
        return f"Remote({self.name!r}, url={self.url!r})"

    @property
    def address(self) -> str:
        """``host:port`` of its URL (``tcp://`` is the only scheme)."""
        return self.url.removeprefix("tcp://").rstrip("/")

    def token(self) -> str | None:
        """The token: ``token_file``'s text, or what ``token_command`` prints (stripped)."""
        if self.token_file is not None:
            check_private(self.token_file, f"{self.name}'s token_file")
            with open(self.token_file, encoding="utf-8") as f:
                return f.read().strip() or None
        if self.token_command is not None:
            return self._run_token_command()
        return None

    def _run_token_command(self) -> str:
        import shlex
        import subprocess

        command = self.token_command
        argv = shlex.split(command) if isinstance(command, str) else list(command or [])
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise RemotesError(f"{self.name}: token_command {command!r} failed: {exc}") from None
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
            raise RemotesError(f"{self.name}: token_command {command!r} failed: {said[0]}")
        token = done.stdout.strip()
        if not token:
            raise RemotesError(f"{self.name}: token_command {command!r} printed no token")
        return token


def remotes_path(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    config = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(config, "procward", "remotes.toml")


def resolve(name: str, env: Mapping[str, str] | None = None) -> Remote | None:
    """The remote called ``name``, or None when there is no file or no such alias.

    A file that is there but unsafe or wrong raises ``RemotesError``, even for
    a name it does not hold: a broken file must not pass silently.
    """
    path = remotes_path(env)
    if not os.path.exists(path):
        return None
    return load(path).get(name)


def require(name: str, env: Mapping[str, str] | None = None) -> Remote:
    """The remote called ``name``; ``RemotesError`` saying where it was looked for."""
    found = resolve(name, env)
    if found is None:
        raise RemotesError(f"no remote {name!r} in {remotes_path(env)}")
    return found


def load(path: str) -> dict[str, Remote]:
    """Every alias of the file at ``path``, checked (owner, mode, keys)."""
    import tomllib

    check_private(path, "the remotes file")
    try:
        with open(path, "rb") as f:
            tables = tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise RemotesError(f"{path}: {exc}") from None
    problems = [p for name, table in tables.items() for p in _problems(name, table)]
    if problems:
        raise RemotesError(f"{path}: " + "; ".join(problems))
    return {name: Remote(name, path, table) for name, table in tables.items()}


def _problems(name: str, table: object) -> list[str]:
    if not isinstance(table, dict):
        return [f"{name} must be a table ([{name}] with url = ...)"]
    problems = [f"[{name}] has an unknown key {key!r}" for key in sorted(table.keys() - KEYS)]
    url = table.get("url")
    if not isinstance(url, str):
        problems.append(f'[{name}] needs url = "tcp://HOST:PORT"')
    elif "://" in url and not url.startswith("tcp://"):
        problems.append(f"[{name}] url {url!r}: the daemon speaks tcp:// (TLS with ca_file)")
    if "token_file" in table and "token_command" in table:
        problems.append(f"[{name}] has token_file and token_command: keep one")
    for key in KEYS - {"url", "token_command"}:
        if key in table and not isinstance(table[key], str):
            problems.append(f"[{name}] {key} must be a path (a string)")
    command = table.get("token_command")
    if command is not None and not (
        isinstance(command, str)
        or (isinstance(command, list) and all(isinstance(a, str) for a in command))
    ):
        problems.append(f"[{name}] token_command must be a string or a list of strings")
    return problems


def check_private(path: str, what: str) -> None:
    """Refuse ``path`` unless it is the user's own and no one else may read or write it."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise RemotesError(f"{what} {path}: {exc.strerror}") from None
    me = os.geteuid()
    if st.st_uid != me:
        raise RemotesError(
            f"{what} {path} is owned by uid {st.st_uid}, not by you (uid {me}); it says where "
            f"tokens are, so it must be yours: chown {me} {path} && chmod 600 {path}"
        )
    if st.st_mode & 0o077:
        mode = st.st_mode & 0o777
        raise RemotesError(
            f"{what} {path} has mode {mode:04o}: others may read or change it, and it says "
            f"where tokens are; fix it with: chmod 600 {path}"
        )


def _path(value: str | None, here: str) -> str | None:
    if value is None:
        return None
    return os.path.join(here, os.path.expanduser(value))
