"""``procward secret``: set, list, rm, rotate-key, reset.

A value is read from stdin, never from the command line (where ``ps``, the
shell's history and the audit log would see it): typed at a terminal
without echo (asked twice), or piped, or read from ``--from-file``. One
trailing newline (``echo``'s, an editor's) is dropped unless ``--raw``.
Text travels as text, anything else as base64. Nothing here prints a value.
"""

from __future__ import annotations

import sys
import time

from procward.cli import render
from procward.cli.connection import connect, fail
from procward.cli.options import SecretArgs
from procward.cli.quantities import duration, size
from procward.kit._errors import RpcError
from procward.kit._paths import InstancePaths

TYPE_CHECKING = False  # not `typing`: the CLI imports this module at start
if TYPE_CHECKING:
    from procward.kit._client import Client
    from procward.reports import SecretsReport

MAX_VALUE = 64 * 1024  # the daemon's bound too: refused here before it is sent


class ValueProblem(Exception):
    """The value could not be read, or is not one to send; ``str()`` says why."""


def cmd_secret(args: SecretArgs, paths: InstancePaths) -> int:
    if args.action in ("set", "rm") and not args.name:
        return fail(f"secret {args.action} needs the secret's NAME", 2)
    if args.action != "set" and (args.from_file or args.raw):
        return fail("--from-file and --raw are for `secret set`", 2)
    if args.action == "set":
        return _set(args, paths)
    if args.action == "list":
        return _list(args, paths)
    method = {"rm": "removeSecret", "rotate-key": "rotateSecretsKey", "reset": "resetSecrets"}
    params = {"name": args.name} if args.action == "rm" else {}
    with connect(paths) as client:
        reply = client.call(method[args.action], params)
    if args.json:
        render.as_json(reply)
        return 0
    _said(args.action, reply)
    return 0


def _set(args: SecretArgs, paths: InstancePaths) -> int:
    assert args.name is not None
    try:
        value = read_value(args.name, args.from_file, raw=args.raw)
    except ValueProblem as exc:
        return fail(f"{exc}; nothing was set", 1)
    from procward.reports import SecretSet

    text = _as_text(value)
    params = {"name": args.name, "value": text, "encoding": "utf-8"}
    if text is None:
        import base64

        params.update(value=base64.b64encode(value).decode("ascii"), encoding="base64")
    with connect(paths) as client:
        reply = client.call("setSecret", params)
        done = SecretSet.from_dict(reply)
        reloaded, failed = _reload(client, done.used_by) if args.reload else ([], [])
    if args.json:
        render.as_json({**reply, "reloaded": reloaded, "not_reloaded": failed})
        return 1 if failed else 0
    how = "added" if done.created else "changed"
    print(f"secret {done.name} {how} ({done.size} bytes)")
    if reloaded:
        print(f"reloaded: {', '.join(reloaded)}")
    for app, why in failed:
        print(f"not reloaded: {app}: {why}", file=sys.stderr)
    if done.used_by and not args.reload:
        apps = ", ".join(done.used_by)
        print(f"used by {apps}: `procward reload APP` (or set --reload) gives them the value")
    return 1 if failed else 0


def _reload(client: Client, apps: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``reloadApp`` for each of ``apps``, by the app's own strategy; who was and who not."""
    reloaded, failed = [], []
    for app in apps:
        try:
            client.call("reloadApp", {"name": app})
        except RpcError as exc:
            failed.append((app, str(exc)))
        else:
            reloaded.append(app)
    return reloaded, failed


def _list(args: SecretArgs, paths: InstancePaths) -> int:
    from procward.reports import SecretsReport

    with connect(paths) as client:
        reply = client.call("listSecrets")
    report = render.show(reply, SecretsReport.from_dict, secrets_table, json=args.json)
    if not report.readable:
        return fail(f"the secret store cannot be read: {report.problem}", 1)
    return 0


def secrets_table(report: SecretsReport) -> None:
    """NAME, SIZE, SET (how long ago), BY, USED BY: never a value."""
    if not report.readable:
        return  # said on stderr by the caller
    if not report.secrets:
        sys.stdout.write("no secrets (add one with: procward secret set NAME)\n")
        return
    now = time.time()
    rows: list[tuple[str, ...]] = [("NAME", "SIZE", "SET", "BY", "USED BY")]
    for s in report.secrets:
        ago = f"{duration(max(0.0, now - s.set_at))} ago"
        rows.append((s.name, size(s.size), ago, s.set_by, ", ".join(s.used_by) or "-"))
    render.columns(rows)


def _said(action: str, reply: dict[str, object]) -> None:
    from procward.reports import SecretRemoved, SecretsKeyRotated, SecretsReset

    if action == "rm":
        removed = SecretRemoved.from_dict(reply)
        print(f"secret {removed.name} removed")
        if removed.used_by:
            print(f"still named by {', '.join(removed.used_by)}: they will not start without it")
    elif action == "rotate-key":
        rotated = SecretsKeyRotated.from_dict(reply)
        print(
            f"new key {rotated.key_id} in {rotated.key}: {rotated.secrets} secrets sealed with it"
        )
    else:
        reset = SecretsReset.from_dict(reply)
        print(f"the secret store could not be read ({reset.reason})")
        for path in reset.moved:
            print(f"moved aside: {path}")
        print("the store is empty now: set the secrets again with `procward secret set NAME`")


def read_value(name: str, from_file: str | None, *, raw: bool) -> bytes:
    """The value to set: from ``from_file``, typed at the terminal, or piped on stdin."""
    if from_file is not None:
        try:
            with open(from_file, "rb") as f:
                value = _bounded(f.read(MAX_VALUE + 1), from_file)
        except OSError as exc:
            raise ValueProblem(f"cannot read {from_file}: {exc.strerror or exc}") from None
    elif sys.stdin.isatty():
        return _typed(name)
    else:
        value = _bounded(sys.stdin.buffer.read(MAX_VALUE + 1), "stdin")
    if not raw:
        value = value.removesuffix(b"\n").removesuffix(b"\r") if value.endswith(b"\n") else value
    if not value:
        raise ValueProblem("the value is empty")
    return value


def _typed(name: str) -> bytes:
    """Asked twice at the terminal, with no echo; the prompts go to stderr."""
    import getpass

    first = getpass.getpass(f"value of secret {name}: ", stream=sys.stderr)
    if not first:
        raise ValueProblem("the value is empty")
    if getpass.getpass("again, to be sure: ", stream=sys.stderr) != first:
        raise ValueProblem("the two values differ")
    return _bounded(first.encode("utf-8"), "the terminal")


def _bounded(value: bytes, where: str) -> bytes:
    if len(value) > MAX_VALUE:
        raise ValueProblem(f"the value from {where} is over {MAX_VALUE} bytes (64 KiB)")
    return value


def _as_text(value: bytes) -> str | None:
    """The value as text when it is UTF-8 without NUL (what a JSON string carries)."""
    if b"\0" in value:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None
