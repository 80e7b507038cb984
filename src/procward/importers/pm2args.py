"""A PM2 app's command: ``script``, ``args`` and the interpreter PM2 would choose.

PM2 runs ``interpreter interpreter_args script args`` without a shell. With
no ``interpreter`` it picks one by the script's extension (``.js`` node,
``.py`` python, ``.sh`` bash...: its ``interpreter.json``); a script that is
no file in the cwd but a program on ``PATH`` (``npm``, ``python3``) runs as
it is. ``args`` and ``node_args`` may be strings, which PM2 splits on
whitespace, keeping ``"quoted words"`` and ``key="a value"`` together (the
second with its quotes): a leading space makes no empty argument.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping

__all__ = ["command", "split_args"]

_BY_EXTENSION = {
    ".js": "node",
    ".cjs": "node",
    ".mjs": "node",
    ".sh": "bash",
    ".py": "python",
    ".rb": "ruby",
    ".php": "php",
    ".pl": "perl",
    ".coffee": "coffee",
    ".ls": "lsc",
    ".ts": "bun",
    ".tsx": "bun",
}
# PM2's split of a string of arguments (lib/tools/Config.js), group for group.
_ARGS = re.compile(r"""([\w\-]+="[^"]*")|([\w\-]+='[^']*')|"([^"]*)"|'([^']*)'|\s""")
_SCRIPT_KEYS = ("script", "exec", "cmd", "command")
_INTERPRETER_ARGS = ("interpreter_args", "node_args", "interpreterArgs")


def split_args(value: object) -> list[str]:
    """``args`` as PM2 reads it: an array as it is, a string split its way."""
    if isinstance(value, list):
        return [str(item) for item in value]
    if value is None:
        return []
    return [part for part in _ARGS.split(str(value)) if part and part.strip()]


def command(
    config: Mapping[str, object], cwd: str, search_path: str
) -> tuple[list[str], list[tuple[str, str]]]:
    """The argv of the app, and notes as (key, text); ``[]`` without a script.

    ``search_path``: the ``PATH`` of ``procward import``, where PM2 looked for ``python``.
    """
    notes: list[tuple[str, str]] = []
    key = next((k for k in _SCRIPT_KEYS if config.get(k)), None)
    if key is None:
        return [], notes
    if key in ("cmd", "command"):
        notes.append((key, "PM2's old name of script: read as script"))
    script = str(config[key])
    args = split_args(config.get("args"))
    extra = next((split_args(config[k]) for k in _INTERPRETER_ARGS if config.get(k)), [])
    interpreter = config.get("interpreter") or config.get("exec_interpreter")
    if interpreter == "none":
        return [script, *args], notes
    if interpreter is None:
        interpreter = _by_extension(script, cwd, search_path)
    if interpreter is None:
        if extra:
            notes.append(("node_args", f"{script} runs as a program, not under node: ignored"))
        return [script, *args], notes
    return [str(interpreter), *extra, script, *args], notes


def _by_extension(script: str, cwd: str, search_path: str) -> str | None:
    """PM2's interpreter for ``script``; ``None`` for a program found on ``PATH``."""
    found = _BY_EXTENSION.get(os.path.splitext(script)[1])
    if found == "python" and shutil.which("python", path=search_path) is None:
        return "python3"  # as PM2 falls back
    if found is not None:
        return found
    if "/" not in script and not os.path.exists(os.path.join(cwd, script)):
        return None  # a program on PATH (npm, python3), as PM2 finds it
    return None if _is_binary(os.path.join(cwd, script)) else "node"


def _is_binary(path: str) -> bool:
    """As PM2 decides between ``node file`` and running the file itself."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return b"\0" in head
