"""An ``ecosystem.config.js`` is code: node runs it, and prints what it exports as JSON.

PM2 ``require``s the file, so its values may come from ``require('dotenv')``,
``os.cpus().length``, ternaries on ``process.env`` and string concatenation;
only node knows them. The file runs in a child ``node`` (``.js``, ``.cjs``
and ESM ``.mjs`` alike, through ``import()``), in the file's directory, with
the environment of ``procward import``, as PM2 ran it with its own. Being
someone's code, it gets a deadline and bounded output, in a process group of
its own that is killed whole if it overruns, and its ``console.log`` goes to
stderr so that only the answer is on stdout. PM2 also reads ``.json`` files
as a JavaScript expression (comments, trailing commas, unquoted keys), so one
that is not strict JSON comes here too.
"""

from __future__ import annotations

import json
import os
import re
import selectors
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping

from procward.importers.record import ImportRefused

__all__ = ["NODE_TIMEOUT", "evaluate"]

NODE_TIMEOUT = 10.0  # seconds for node to start, run the file and print it
_MAX_OUTPUT = 16 << 20  # bytes of JSON; a config is a few kilobytes
_MAX_ERRORS = 64 << 10  # bytes of stderr kept for the message

# Regular expressions become {"$regexp": source}: ignore_watch takes them, JSON drops them.
_LOADER = r"""
const { pathToFileURL } = require("node:url");
const [file, kind] = process.argv.slice(1);
console.log = console.info = console.debug = console.error;
const regexp = (_, v) => (v instanceof RegExp ? { $regexp: v.source } : v);
const json = (value) => JSON.stringify(value, regexp);
const load = kind === "expression"
  ? Promise.resolve().then(() => require("node:vm").runInThisContext(
      "(" + require("node:fs").readFileSync(file, "utf8") + ")", { filename: file, timeout: 1000 }))
  : import(pathToFileURL(file).href).then((ns) => (ns.default !== undefined ? ns.default : ns));
const failed = (e) => ({ error: { code: e && e.code, message: String((e && e.message) || e) } });
load.then((config) => process.stdout.write(json({ config })))
  .catch((e) => process.stdout.write(json(failed(e))));
"""
_MISSING_MODULE = re.compile(r"Cannot find (?:module|package) '([^']+)'")


def evaluate(path: str, environ: Mapping[str, str], *, expression: bool = False) -> object:
    """What ``path`` exports (or, with ``expression``, what its text evaluates to) per node."""
    node = shutil.which("node", path=environ.get("PATH", os.defpath))
    what = "a JavaScript expression" if expression else "code"
    if node is None:
        raise ImportRefused(
            f"{path} is {what}, which procward import runs with node to read, and node is not "
            "installed here (Debian: apt-get install nodejs); or, where PM2 runs, write the apps "
            "as JSON (pm2 jlist > pm2.json) and import that"
        )
    argv = [node, "-e", _LOADER, os.path.abspath(path), "expression" if expression else "module"]
    out, errors = _run(argv, os.path.dirname(os.path.abspath(path)), environ, path)
    try:
        answer = json.loads(out)
    except ValueError:
        tail = errors.strip().splitlines()[-3:]
        raise ImportRefused(
            f"node could not read {path}: {' / '.join(tail) or 'no answer'}"
        ) from None
    if "error" in answer:
        raise ImportRefused(_explain(path, answer["error"]))
    return answer.get("config")


def _explain(path: str, error: dict[str, str]) -> str:
    message = (error.get("message") or "").splitlines()[0] if error.get("message") else "failed"
    missing = _MISSING_MODULE.search(message)
    if missing and error.get("code") in ("MODULE_NOT_FOUND", "ERR_MODULE_NOT_FOUND"):
        module = missing.group(1)
        where = os.path.dirname(os.path.abspath(path))
        return (
            f"{path} requires the node module {module!r}, which is not installed in {where}: "
            f"run npm install (or npm install {module}) there and import again; or, where PM2 "
            "runs, write the apps as JSON (pm2 jlist > pm2.json) and import that"
        )
    return f"node could not run {path}: {message}"


def _run(argv: list[str], cwd: str, environ: Mapping[str, str], path: str) -> tuple[str, str]:
    """stdout and stderr of ``argv``, killed (its whole group) past the deadline or the bound."""
    child = subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(environ),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, errors = bytearray(), bytearray()
    deadline = time.monotonic() + NODE_TIMEOUT
    finished = False
    try:
        with selectors.DefaultSelector() as selector:
            assert child.stdout is not None and child.stderr is not None
            selector.register(child.stdout, selectors.EVENT_READ, out)
            selector.register(child.stderr, selectors.EVENT_READ, errors)
            while selector.get_map():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ImportRefused(f"node ran {path} for {NODE_TIMEOUT:g}s: stopped")
                for key, _ in selector.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        selector.unregister(key.fileobj)
                    elif key.data is out or len(errors) < _MAX_ERRORS:
                        key.data.extend(chunk)
                if len(out) > _MAX_OUTPUT:
                    raise ImportRefused(f"{path}: node printed more than {_MAX_OUTPUT >> 20} MB")
        finished = True
    finally:
        if not finished:  # the whole group: what the file started holds the pipes too
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        child.stdout.close()  # type: ignore[union-attr]
        child.stderr.close()  # type: ignore[union-attr]
    return out.decode("utf-8", "replace"), errors.decode("utf-8", "replace")
