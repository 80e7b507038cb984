"""supervisord's ``%(name)s`` expansions as procward text (``procward.importers.expansions``)."""

from __future__ import annotations

import pytest

from procward.importers.expansions import ExpansionError, expand, has_instance, to_procward

NAMES = {"program_name": "web", "numprocs": "3", "ENV_HOME": "/home/a"}


@pytest.mark.parametrize(
    ("value", "procward"),
    [
        ("%(program_name)s-%(process_num)d", "web-{instance}"),
        ("%(program_name)s_%(process_num)02d", "web_0{instance}"),
        ("%(process_num)03d", "00{instance}"),
        ("100%% of %(numprocs)d", "100% of 3"),
        ("%(numprocs)03d", "003"),
        ("%(ENV_HOME)s/{x}", "/home/a/{{x}}"),
    ],
)
def test_expanded_as_supervisord_then_written_for_procward(value: str, procward: str) -> None:
    assert to_procward(expand(value, NAMES), dollars=False)[0] == procward


def test_process_num_is_the_only_value_left_per_instance() -> None:
    assert has_instance(expand("%(process_num)d", NAMES))
    assert not has_instance(expand("%(program_name)s", NAMES))
    assert to_procward(expand("$HOME-%(process_num)02d", NAMES), dollars=True) == (
        "$$HOME-0{instance}",
        2,
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("%(ENV_MISSING)s", r"\$MISSING is not set"),
        ("%(nope)s", "not a name supervisord expands"),
        ("%(program_name)d", "of 'web'"),
    ],
)
def test_what_supervisord_could_not_expand_is_an_error(value: str, message: str) -> None:
    with pytest.raises(ExpansionError, match=message):
        expand(value, NAMES)
