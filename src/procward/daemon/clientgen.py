"""``src/procward/_methods.py``, the typed client methods, made from the method registry.

``python -m procward.daemon.clientgen`` writes one method per RPC method of
the daemon, for ``procward.Client`` (``Methods``) and ``procward.AsyncClient``
(``AsyncMethods``): the registry's parameters as typed keyword arguments,
the reply as the record the method declares (``result=``), else as the
handler's return annotation. It is the one way to update the client: a
branch that adds a method or a parameter runs it again, and
``tests/daemon/test_clientgen.py`` fails until it has.

The registry is walked as ``rpcdoc`` walks it (``rpcdoc.registry()``), so
the docs and the client cannot describe different daemons. The kit's own
methods declare no record (the kit knows none of procward's); those whose
reply procward has a record for are named in ``KIT_RECORDS``.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import textwrap

from procward.daemon import rpcdoc
from procward.kit._rpc import Method, Registry

TARGET = os.path.join("src", "procward", "_methods.py")

# The kit's methods and the procward record of their reply.
KIT_RECORDS = {
    "ping": "Ping",
    "createToken": "TokenCreated",
    "listTokens": "list[TokenInfo]",
    "revokeToken": "TokenRevoked",
    "rotateTokens": "KeyRotated",
    "upgrade": "UpgradeStarted",
}

HEAD = '''\
"""The typed methods of ``procward.Client`` and ``procward.AsyncClient``: one per RPC method.

Made by ``python -m procward.daemon.clientgen`` from the daemon's method
registry; do not edit. After a change to a method of the daemon, run it
again: tests/daemon/test_clientgen.py fails until this file is what the
registry says. Parameters are keyword-only; a parameter left at None is not
sent (the daemon's default applies). Replies are decoded into the records of
``procward.replies`` and ``procward.reports``; streams are iterators of
``Notification`` that end their own connection when closed.
"""

from __future__ import annotations

TYPE_CHECKING = False  # not `typing`: nothing of it is needed at run time
if TYPE_CHECKING:
{imports}
'''

SYNC_HEAD = '''

class Methods:
    """Every method of the daemon, for the synchronous client (``procward.Client``)."""

    def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        raise NotImplementedError

    def _follow(self, method: str, params: dict[str, Any]) -> Stream:
        raise NotImplementedError
'''

ASYNC_HEAD = '''

class AsyncMethods:
    """Every method of the daemon, for the asyncio client (``procward.AsyncClient``)."""

    async def _call(self, method: str, params: dict[str, Any], result: str | None) -> Any:
        raise NotImplementedError

    def _follow(self, method: str, params: dict[str, Any]) -> AsyncStream:
        raise NotImplementedError
'''


def record_of(entry: Method) -> str | None:
    """The record the reply of ``entry`` decodes into, as ``rpcdoc`` names it; or None."""
    return entry.result or KIT_RECORDS.get(entry.name)


def parameters(entry: Method) -> list[tuple[str, str, str | None]]:
    """``(name, annotation as written, default as source or None)`` of each parameter.

    A parameter that may be None must default to None: the client leaves out
    what is None, so the daemon's default and the client's are one.
    """
    signature = inspect.signature(entry.handler)
    found = []
    for name in entry.names:
        param = signature.parameters[name]
        written = _written(param.annotation, f"{entry.name}({name})")
        default = None if param.default is param.empty else _source(param.default)
        if re.search(r"\bNone\b", written) and default != "None":
            why = "has no default" if default is None else f"defaults to {default}"
            raise ValueError(f"{entry.name}: {name} may be None but {why}: None is never sent")
        found.append((name, written, default))
    return found


def returns(entry: Method) -> str:
    """What the client method returns, as an annotation."""
    if entry.stream:
        return "Stream"
    record = record_of(entry)
    if record is not None:
        rpcdoc.record_of(record)  # a name that is no record fails here
        return record
    result = inspect.signature(entry.handler).return_annotation
    return _written(result, f"{entry.name}'s reply")


def _written(annotation: object, what: str) -> str:
    if annotation is inspect.Parameter.empty:
        raise ValueError(f"{what} has no type: the client cannot type it")
    return annotation if isinstance(annotation, str) else inspect.formatannotation(annotation)


def _source(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _in_class(annotation: str) -> str:
    # A method named `list` hides the builtin in the class body, for mypy too.
    return re.sub(r"\blist\[", "builtins.list[", annotation)


def render_method(entry: Method, *, is_async: bool) -> str:
    params = parameters(entry)
    result = "AsyncStream" if entry.stream and is_async else _in_class(returns(entry))
    prefix = "async " if is_async and not entry.stream else ""
    head = f"    {prefix}def {entry.name}{_signature(params)} -> {result}:"
    return "\n".join(["", head, _docstring(entry), *_body(entry, params, result, is_async)]) + "\n"


# Both emitted exploded, with trailing commas: the shape `ruff format` keeps.


def _signature(params: list[tuple[str, str, str | None]]) -> str:
    if not params:
        return "(self)"
    args = "".join(
        f"        {name}: {_in_class(written)}{'' if default is None else f' = {default}'},\n"
        for name, written, default in params
    )
    return f"(\n        self,\n        *,\n{args}    )"


def _body(
    entry: Method, params: list[tuple[str, str, str | None]], result: str, is_async: bool
) -> list[str]:
    sent = "".join(f'                "{name}": {name},\n' for name, _, _ in params)
    sent = f"{{\n{sent}            }}" if params else "{}"
    if entry.stream:
        return [
            "        return self._follow(",
            f'            "{entry.name}",',
            f"            {sent},",
            "        )",
        ]
    record = record_of(entry)
    return [
        f"        reply: {result} = {'await ' if is_async else ''}self._call(",
        f'            "{entry.name}",',
        f"            {sent},",
        f"            {_source(record) if record else None},",
        "        )",
        "        return reply",
    ]


def _docstring(entry: Method) -> str:
    doc = inspect.getdoc(entry.handler) or f"The ``{entry.name}`` method."
    summary = " ".join(doc.split("\n\n")[0].split())
    role = entry.role.name.lower()
    text = f"{summary} (role: {role})"
    wrapped = textwrap.wrap(text, width=84, break_on_hyphens=False)
    if len(wrapped) == 1:
        return f'        """{wrapped[0]}"""'
    body = "\n".join(f"        {line}" for line in wrapped[1:])
    return f'        """{wrapped[0]}\n{body}\n        """'


def _imports(methods: list[Method]) -> str:
    from procward import replies

    records: set[str] = set()
    for entry in methods:
        record = record_of(entry)
        if record is not None and not entry.stream:
            records.add(record.removeprefix("list[").removesuffix("]"))
    of_replies = sorted((r for r in records if hasattr(replies, r)), key=str.lower)
    of_reports = sorted(records - set(of_replies), key=str.lower)
    lines = [
        "    import builtins",
        "    from typing import Any",
        "",
        "    from procward._streams import AsyncStream, Stream",
    ]
    for module, names in (("replies", of_replies), ("reports", of_reports)):
        if names:
            lines.append(f"    from procward.{module} import (")
            lines += [f"        {name}," for name in names]
            lines.append("    )")
    return "\n".join(lines)


def render(methods: Registry) -> str:
    ordered = sorted(methods, key=lambda m: m.name)
    text = HEAD.format(imports=_imports(ordered))
    text += SYNC_HEAD + "".join(render_method(m, is_async=False) for m in ordered)
    text += ASYNC_HEAD + "".join(render_method(m, is_async=True) for m in ordered)
    return text


def main(argv: list[str] | None = None) -> int:
    target = (argv or sys.argv[1:] or [TARGET])[0]
    with open(target, "w", encoding="utf-8") as out:
        out.write(render(rpcdoc.registry()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
