"""The typed client is the registry, written out: every method, its parameters and types.

``src/procward/_methods.py`` is made by ``python -m procward.daemon.clientgen``;
these tests fail when a method of the daemon (a new one from another branch,
a new parameter) has no client counterpart, so a merge needs only a rerun.
"""

from __future__ import annotations

import inspect
import pathlib

import pytest

from procward import _methods
from procward.daemon import clientgen, rpcdoc
from procward.kit._rpc import Method
from procward.kit._structs import replace

FILE = pathlib.Path(__file__).resolve().parents[2] / "src" / "procward" / "_methods.py"
REGISTRY = sorted(rpcdoc.registry(), key=lambda m: m.name)
RERUN = "run `python -m procward.daemon.clientgen`"


def test_methods_py_is_what_the_registry_says() -> None:
    made = clientgen.render(rpcdoc.registry())
    assert FILE.read_text(encoding="utf-8") == made, f"src/procward/_methods.py is stale: {RERUN}"


@pytest.mark.parametrize("base", [_methods.Methods, _methods.AsyncMethods])
@pytest.mark.parametrize("entry", REGISTRY, ids=lambda m: m.name)
def test_every_method_has_a_client_method_with_its_parameters(base: type, entry: Method) -> None:
    func = getattr(base, entry.name, None)
    assert func is not None, f"{base.__name__} has no {entry.name}: {RERUN}"
    client = list(inspect.signature(func).parameters.values())[1:]  # after self
    daemon = inspect.signature(entry.handler).parameters
    assert [p.name for p in client] == list(entry.names), RERUN
    for param in client:
        served = daemon[param.name]
        assert param.kind is param.KEYWORD_ONLY
        written = clientgen._in_class(clientgen._written(served.annotation, param.name))
        assert param.annotation == written, f"{entry.name}({param.name}): {RERUN}"
        assert (param.default is param.empty) == (served.default is served.empty)
        if served.default is not served.empty:
            assert param.default == served.default
    assert inspect.iscoroutinefunction(func) == (base is _methods.AsyncMethods and not entry.stream)


@pytest.mark.parametrize("entry", REGISTRY, ids=lambda m: m.name)
def test_each_reply_is_its_declared_record(entry: Method) -> None:
    returned = inspect.signature(getattr(_methods.Methods, entry.name)).return_annotation
    if entry.stream:
        assert returned == "Stream"
    elif entry.result is not None:
        assert returned == clientgen._in_class(entry.result)
    else:
        assert returned == clientgen._in_class(clientgen.returns(entry))


def test_the_client_has_no_method_the_daemon_lacks() -> None:
    served = {m.name for m in REGISTRY}
    for base in (_methods.Methods, _methods.AsyncMethods):
        made = {name for name in vars(base) if not name.startswith("_")}
        assert made == served, f"{sorted(made ^ served)}: {RERUN}"


def test_a_parameter_that_may_be_none_must_default_to_none() -> None:
    """The client leaves None out, so None must mean the daemon's default."""
    entry = next(m for m in REGISTRY if m.name == "getLogs")
    wrong = replace(entry, handler=_handler("name: str | None = 'web'"), names=("name",))
    with pytest.raises(ValueError, match="may be None but defaults to"):
        clientgen.parameters(wrong)


def _handler(params: str) -> object:
    """A bound-looking handler (no ``ctx``) with ``params``."""
    scope: dict[str, object] = {}
    exec(f"def handler({params}): pass", scope)
    return scope["handler"]
