"""``docs/rpc.md``, made from the daemon's method registry (``python -m procward.daemon.rpcdoc``).

The table cannot drift from the code: tests/daemon/test_rpc_doc.py makes it
again and fails when the file differs. Each row is what the registry holds
(name, role, parameters with their types and defaults, whether it streams,
the record its reply is) and the first line of the handler's docstring; a
method that declares no record shows its return annotation. The "Records"
section lists each record a reply is made of (``procward.replies``, ``.reports``), its
fields and their types as written in the class, read without ``typing``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import tempfile
from typing import Any

from procward.kit._rpc import Method, Registry
from procward.kit._structs import Struct

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
    from procward.kit._paths import resolve

    with tempfile.TemporaryDirectory() as home:
        built = ProcwardDaemon(resolve("procward", env={"PROCWARD_HOME": home})).registry
    for part in RPC_PARTS:
        for attr in dir(part):
            func = getattr(part, attr)
            marked = getattr(func, "__rpc__", None)
            if marked is not None and marked[0] not in built:
                name, role, stream, result = marked
                built.add(_unbound(func), role, name, stream=stream, result=result)
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


def _result(entry: Method) -> str:
    if entry.result is not None:
        record_of(entry.result)  # a name that is no record fails here, not in a reader's hands
        return f"`{entry.result}`"
    result = inspect.signature(entry.handler).return_annotation
    return "—" if result is inspect.Signature.empty else f"`{_annotation(result)}`"


def record_of(result: str) -> type[Struct]:
    """The record class a declared result names (``Event`` for ``"list[Event]"``)."""
    from procward import replies, reports

    name = result.removeprefix("list[").removesuffix("]")
    record = getattr(replies, name, None) or getattr(reports, name, None)
    if not (isinstance(record, type) and issubclass(record, Struct)):
        raise LookupError(f"{result!r} names no record of procward.replies or .reports")
    return record


def is_list(result: str) -> bool:
    """Whether a declared result is a list of records (``"list[Event]"``)."""
    return result.startswith("list[")


def render(methods: Registry) -> str:
    rows = ["| method | role | params | result | what |", "|---|---|---|---|---|"]
    for entry in sorted(methods, key=lambda m: m.name):
        result_text = _result(entry)
        if entry.stream:
            result_text += " (streams notifications until the caller hangs up)"
        rows.append(
            f"| `{entry.name}` | {entry.role.name.lower()} | {_params(entry)} "
            f"| {result_text} | {_summary(entry)} |"
        )
    declared = [record_of(m.result) for m in methods if m.result is not None]
    return HEAD + "\n".join(rows) + "\n" + _records(declared)


RECORDS_HEAD = """
## Records

The replies that name a record in the table above, and the records they are
made of (`procward.replies` and `procward.reports`): each field as on the wire, with its type. A
field marked *optional* may be absent (an older daemon, or a reply that has
no use for it); keys a record does not list may be added by a newer daemon.
"""


def _records(declared: list[type[Struct]]) -> str:
    found = _reachable(declared)
    return RECORDS_HEAD + "".join(_record(cls) for cls in sorted(found, key=lambda c: c.__name__))


def _reachable(roots: list[type[Struct]]) -> set[type[Struct]]:
    """``roots`` and every record their fields name, as written in their annotations."""
    found: set[type[Struct]] = set()
    stack = list(roots)
    while stack:
        cls = stack.pop()
        if cls in found:
            continue
        found.add(cls)
        names = vars(sys.modules[cls.__module__])
        for written in _fields(cls).values():
            for word in re.findall(r"[A-Za-z_]\w*", written):
                named = names.get(word)
                if isinstance(named, type) and issubclass(named, Struct) and named is not Struct:
                    stack.append(named)
    return found


def _fields(cls: type[Struct]) -> dict[str, str]:
    """Each field of ``cls`` and its annotation as written (bases first)."""
    written: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for key, hint in inspect.get_annotations(klass).items():
            if key in cls._fields:
                written[key] = hint if isinstance(hint, str) else inspect.formatannotation(hint)
    return written


def _record(cls: type[Struct]) -> str:
    doc = (inspect.getdoc(cls) or "").split("\n\n")[0].replace("\n", " ").strip()
    doc = doc.replace("``", "`").replace("|", "\\|")
    base = next((b for b in cls.__bases__ if b is not Struct and issubclass(b, Struct)), None)
    lines = [f"\n### `{cls.__name__}`\n"]
    if doc and not doc.startswith(f"{cls.__name__}("):  # not the struct's generated one
        lines.append(f"\n{doc}\n")
    if base is not None:
        lines.append(f"\nEvery field of `{base.__name__}`, and more.\n")
    lines += ["\n| field | type |\n", "|---|---|\n"]
    for key, written in _fields(cls).items():
        optional = " *optional*" if key in cls._defaults else ""
        wire = getattr(cls, "_wire", {}).get(key, key)
        lines.append(f"| `{wire}` | `{_annotation(written)}`{optional} |\n")
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    target = (argv or sys.argv[1:] or [os.path.join("docs", "rpc.md")])[0]
    with open(target, "w", encoding="utf-8") as out:
        out.write(render(registry()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
