"""Method registration, role checks and parameter binding, without a transport."""

from __future__ import annotations

import itertools
from typing import Any, Optional

import pytest

from procward.kit._errors import Forbidden, InvalidParams, MethodNotFound, Unauthorized
from procward.kit._rpc import CallContext, Method, Peer, Registry, Role, TokenHints, method


async def _no_notify(method: str, params: Any) -> None:
    raise AssertionError("these tests send no notifications")


def peer(role: Role) -> Peer:
    return Peer(transport="unix", role=role, uid=0, pid=1)


CTX = CallContext(peer(Role.ADMIN), _no_notify)


def add(handler: Any, role: Role = Role.VIEWER) -> Method:
    return Registry().add(handler, role)


# -- Role ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["viewer", "VIEWER", "Viewer"])
def test_role_parse_ignores_case(name: str) -> None:
    assert Role.parse(name) is Role.VIEWER


def test_role_parse_names_the_known_roles_on_error() -> None:
    with pytest.raises(ValueError, match="unknown role 'root'") as info:
        Role.parse("root")
    assert "anonymous, viewer, operator, admin" in str(info.value)


def test_roles_are_ordered_by_privilege() -> None:
    assert Role.ANONYMOUS < Role.VIEWER < Role.OPERATOR < Role.ADMIN


# -- Registry --------------------------------------------------------------------


def test_add_registers_under_the_function_name_or_an_explicit_name() -> None:
    def status(ctx: CallContext) -> str:
        return "ok"

    registry = Registry()
    plain = registry.add(status, Role.VIEWER)
    renamed = registry.add(status, Role.ADMIN, name="admin.status")
    assert (plain.name, plain.role, renamed.name, renamed.role) == (
        "status",
        Role.VIEWER,
        "admin.status",
        Role.ADMIN,
    )
    assert "status" in registry
    assert "admin.status" in registry
    assert "missing" not in registry
    assert [m.name for m in registry] == ["status", "admin.status"]


def test_a_name_cannot_be_registered_twice() -> None:
    def ping(ctx: CallContext) -> None: ...

    registry = Registry()
    registry.add(ping, Role.VIEWER)
    with pytest.raises(ValueError, match="'ping' is registered twice"):
        registry.add(ping, Role.ADMIN)


def test_add_records_whether_the_handler_is_async() -> None:
    def sync(ctx: CallContext) -> None: ...

    async def coro(ctx: CallContext) -> None: ...

    assert not add(sync).is_async
    assert add(coro).is_async


class Service:
    def __init__(self) -> None:
        self.calls: list[str] = []

    @method(role=Role.VIEWER)
    def status(self, ctx: CallContext) -> str:
        self.calls.append("status")
        return "fine"

    @method(role=Role.OPERATOR, name="jobs.restart")
    async def restart(self, ctx: CallContext, name: str) -> None: ...

    @method()
    def shutdown(self, ctx: CallContext) -> None: ...

    def helper(self) -> None:
        """Not marked: must not become callable over RPC."""


def test_collect_registers_marked_methods_bound_to_the_object() -> None:
    service = Service()
    registry = Registry()
    registry.collect(service)
    assert {m.name: m.role for m in registry} == {
        "status": Role.VIEWER,
        "jobs.restart": Role.OPERATOR,
        "shutdown": Role.ADMIN,  # @method() defaults to admin
    }
    entry = registry.lookup("status", peer(Role.VIEWER))
    assert entry.handler(CTX, **entry.bind({})) == "fine"
    assert service.calls == ["status"]


def test_collected_method_params_are_checked_without_self() -> None:
    registry = Registry()
    registry.collect(Service())
    entry = registry.lookup("jobs.restart", peer(Role.ADMIN))
    assert entry.bind({"name": "web"}) == {"name": "web"}
    with pytest.raises(InvalidParams, match="'name' must be string"):
        entry.bind({"name": 1})


def test_lookup_of_an_unknown_method_is_method_not_found() -> None:
    with pytest.raises(MethodNotFound, match="unknown method 'nope'"):
        Registry().lookup("nope", peer(Role.ADMIN))


@pytest.mark.parametrize(("caller", "needed"), list(itertools.product(Role, Role)))
def test_lookup_allows_a_caller_whose_role_is_at_least_the_methods(
    caller: Role, needed: Role
) -> None:
    def act(ctx: CallContext) -> None: ...

    registry = Registry()
    registry.add(act, needed)
    if caller >= needed:
        assert registry.lookup("act", peer(caller)).name == "act"
    elif caller is Role.ANONYMOUS:  # a network client that has not shown a token
        with pytest.raises(Unauthorized, match="authenticate with a token first"):
            registry.lookup("act", peer(caller))
    else:
        with pytest.raises(Forbidden) as info:
            registry.lookup("act", peer(caller))
        assert str(info.value) == (
            f"act needs the {needed.name.lower()} role; this connection has {caller.name.lower()}"
        )


# -- Method.bind -------------------------------------------------------------------


def test_bind_gives_the_keyword_arguments_for_the_handler() -> None:
    def greet(ctx: CallContext, name: str, loud: bool = False) -> str:
        return name

    assert add(greet).bind({"name": "ann", "loud": True}) == {"name": "ann", "loud": True}
    assert add(greet).bind({"name": "ann"}) == {"name": "ann"}  # defaults are the handler's


def test_bind_accepts_positional_params_in_declaration_order() -> None:
    def move(ctx: CallContext, x: int, y: int = 0) -> None: ...

    entry = add(move)
    assert entry.bind([1, 2]) == {"x": 1, "y": 2}
    assert entry.bind([1]) == {"x": 1}


def test_a_missing_param_is_invalid_params_naming_it() -> None:
    def move(ctx: CallContext, x: int, y: int) -> None: ...

    entry = add(move)
    with pytest.raises(InvalidParams, match=r"^move: missing required parameter y$"):
        entry.bind({"x": 1})
    with pytest.raises(InvalidParams, match=r"^move: missing required parameter x, y$"):
        entry.bind([])


def test_an_unexpected_param_is_invalid_params_naming_it() -> None:
    def one(ctx: CallContext, x: int) -> None: ...

    with pytest.raises(InvalidParams, match=r"^one: unexpected parameter z$"):
        add(one).bind({"x": 1, "z": 2})


def test_too_many_positional_params_is_invalid_params() -> None:
    def one(ctx: CallContext, x: int) -> None: ...

    with pytest.raises(InvalidParams, match=r"^one: takes at most 1 parameters, got 2$"):
        add(one).bind([1, 2])


def test_a_param_cannot_replace_the_context() -> None:
    def one(ctx: CallContext, x: int) -> None: ...

    with pytest.raises(InvalidParams, match="unexpected parameter ctx"):
        add(one).bind({"ctx": "forged", "x": 1})


def test_a_param_cannot_replace_the_context_of_a_handler_with_kwargs() -> None:
    def free(ctx: CallContext, **options: Any) -> None: ...

    entry = add(free)
    assert entry.bind({"colour": "red"}) == {"colour": "red"}
    # The server calls handler(ctx, **kwargs): this must be refused here, not fail there.
    with pytest.raises(InvalidParams):
        entry.bind({"ctx": "forged"})


def test_a_handler_with_kwargs_takes_unknown_params() -> None:
    def free(ctx: CallContext, level: int, **options: Any) -> None: ...

    entry = add(free)
    assert entry.bind({"level": 1, "colour": "red"}) == {"level": 1, "colour": "red"}
    with pytest.raises(InvalidParams, match="'level' must be int"):
        entry.bind({"level": "high", "colour": "red"})


def test_bound_params_call_the_handler() -> None:
    def move(ctx: CallContext, x: int, *, y: int = 0) -> tuple[int, int]:
        return (x, y)

    entry = add(move)
    assert entry.handler(CTX, **entry.bind([1, 2])) == (1, 2)
    assert entry.handler(CTX, **entry.bind({"x": 3, "y": 4})) == (3, 4)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1", "'n' must be int, not string"),
        (1.0, "'n' must be int, not float"),
        (True, "'n' must be int, not bool"),
        (None, "'n' must be int, not null"),
        ([1], "'n' must be int, not array"),
        ({}, "'n' must be int, not object"),
    ],
)
def test_a_wrong_type_for_int_is_refused_with_json_type_names(value: object, message: str) -> None:
    def count(ctx: CallContext, n: int) -> None: ...

    with pytest.raises(InvalidParams) as info:
        add(count).bind({"n": value})
    assert str(info.value) == f"count: parameter {message}"


def test_positional_params_are_type_checked_too() -> None:
    def count(ctx: CallContext, n: int) -> None: ...

    with pytest.raises(InvalidParams, match="'n' must be int, not string"):
        add(count).bind(["3"])


def test_an_int_is_accepted_for_a_float_but_a_bool_is_not() -> None:
    def scale(ctx: CallContext, factor: float) -> None: ...

    entry = add(scale)
    assert entry.bind({"factor": 2}) == {"factor": 2}
    assert entry.bind({"factor": 2.5}) == {"factor": 2.5}
    with pytest.raises(InvalidParams, match="'factor' must be float, not bool"):
        entry.bind({"factor": False})


def test_a_bool_param_takes_only_booleans() -> None:
    def toggle(ctx: CallContext, on: bool) -> None: ...

    entry = add(toggle)
    assert entry.bind({"on": True}) == {"on": True}
    with pytest.raises(InvalidParams, match="'on' must be bool, not int"):
        entry.bind({"on": 1})


def test_optional_params_accept_null_in_both_spellings() -> None:
    def tail(
        ctx: CallContext,
        lines: int | None = None,
        since: Optional[float] = None,  # noqa: UP045 - the typing spelling is checked too
    ) -> None: ...

    entry = add(tail)
    assert entry.bind({"lines": None, "since": None}) == {"lines": None, "since": None}
    assert entry.bind({"lines": 3, "since": 1}) == {"lines": 3, "since": 1}
    with pytest.raises(InvalidParams, match="'lines' must be int or null, not string"):
        entry.bind({"lines": "3"})
    with pytest.raises(InvalidParams, match="'since' must be float or null, not bool"):
        entry.bind({"since": True})


def test_list_and_dict_params_check_the_container_only() -> None:
    def apply(ctx: CallContext, names: list[str], env: dict[str, str]) -> None: ...

    entry = add(apply)
    assert entry.bind({"names": [1, "a"], "env": {}}) == {"names": [1, "a"], "env": {}}
    with pytest.raises(InvalidParams, match="'names' must be array, not object"):
        entry.bind({"names": {}, "env": {}})
    with pytest.raises(InvalidParams, match="'env' must be object, not array"):
        entry.bind({"names": [], "env": []})


def test_unannotated_and_any_params_are_not_checked() -> None:
    def free(ctx, raw, anything: Any, choice: int | Any = 0) -> None:
        pass

    params = {"raw": [1], "anything": {"a": None}, "choice": "x"}
    assert add(free).bind(params) == params


def test_the_kit_names_no_command_unless_its_daemon_does() -> None:
    def act(ctx: CallContext) -> None: ...

    plain, named = Registry(), Registry(TokenHints(create="tool token new"))
    for registry in (plain, named):
        registry.add(act, Role.VIEWER)
    with pytest.raises(Unauthorized) as info:
        plain.lookup("act", peer(Role.ANONYMOUS))
    assert str(info.value) == "act needs the viewer role: authenticate with a token first"
    with pytest.raises(Unauthorized) as info:
        named.lookup("act", peer(Role.ANONYMOUS))
    assert str(info.value).endswith("authenticate with a token first (tool token new)")
