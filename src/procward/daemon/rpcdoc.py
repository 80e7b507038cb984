"""``docs/rpc.md``, made from the daemon's method registry (``python -m procward.daemon.rpcdoc``).

The table cannot drift from the code: tests/daemon/test_rpc_doc.py makes it
again and fails when the file differs. Each row is what the registry holds
(name, role, parameters with their types and defaults, whether it streams)
plus the handler's return annotation and the first line of its docstring.
"""

from __future__ import annotations

import inspect
import os
import sys
import tempfile
from typing import Any

from procward.kit.rpc import Method, Registry

HEAD = """\
# RPC methods

Made by `python -m procward.daemon.rpcdoc` from the daemon's method registry;
a test fails when this file and the registry differ. Every method is a
JSON-RPC 2.0 call on the Unix socket (newline-delimited JSON), on the TCP
listener after `authenticate`, and over HTTP as `POST /rpc` with a bearer
token (streams excepted). A caller may call a method when its role is at
least the method's: anonymous < viewer < operator < admin. Parameters are
checked against the types shown before the method runs (`InvalidParams`,
-32602, naming the parameter).

"""


def registry() -> Registry:
    """Every method a ``ProcwardDaemon`` serves, without starting one.

    The kit's and ``Audit``'s come from a daemon built in a scratch home;
    the parts that need a running supervisor are registered in ``on_start``,
    so theirs are read from their classes (``RPC_PARTS``), bound to nothing.
    """
    from procward.daemon.service import RPC_PARTS, ProcwardDaemon
    from procward.kit.paths import resolve

    with tempfile.TemporaryDirectory() as home:
        built = ProcwardDaemon(resolve("procward", env={"PROCWARD_HOME": home})).registry
    for part in RPC_PARTS:
        for attr in dir(part):
            func = getattr(part, attr)
            marked = getattr(func, "__rpc__", None)
            if marked is not None and marked[0] not in built:
                built.add(_unbound(func), marked[1], marked[0], stream=marked[2])
    return built


def _unbound(func: Any) -> Any:
    """``func`` of a class, seen as its bound method would be (no ``self``)."""
    signature = inspect.signature(func)
    params = list(signature.parameters.values())[1:]

    def handler(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    handler.__signature__ = signature.replace(parameters=params)  # type: ignore[attr-defined]
    handler.__doc__ = func.__doc__
    handler.__name__ = func.__name__
    handler.__wrapped__ = func  # type: ignore[attr-defined]
    return handler


def _params(entry: Method) -> str:
    shown = []
    signature = inspect.signature(entry.handler)
    for name in entry.names:
        param = signature.parameters[name]
        text = f"`{name}`"
        if param.annotation is not param.empty:
            text = f"`{name}: {_annotation(param.annotation)}`"
        if param.default is not param.empty:
            text = text[:-1] + f" = {param.default!r}`"
        shown.append(text)
    return ", ".join(shown) or "—"


def _annotation(annotation: object) -> str:
    text = annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)
    return text.replace("|", "\\|")


def _summary(entry: Method) -> str:
    doc = inspect.getdoc(entry.handler) or ""
    first = doc.split("\n\n")[0].replace("\n", " ").strip()
    return first.replace("|", "\\|")


def render(methods: Registry) -> str:
    rows = ["| method | role | params | result | what |", "|---|---|---|---|---|"]
    for entry in sorted(methods, key=lambda m: m.name):
        result = inspect.signature(entry.handler).return_annotation
        result_text = "—" if result is inspect.Signature.empty else f"`{_annotation(result)}`"
        if entry.stream:
            result_text += " (streams notifications until the caller hangs up)"
        rows.append(
            f"| `{entry.name}` | {entry.role.name.lower()} | {_params(entry)} "
            f"| {result_text} | {_summary(entry)} |"
        )
    return HEAD + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    target = (argv or sys.argv[1:] or [os.path.join("docs", "rpc.md")])[0]
    with open(target, "w", encoding="utf-8") as out:
        out.write(render(registry()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
