"""Signal names and numbers: one conversion for the config, the CLI and the daemon."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procward.kit import _signals as signals

WRITTEN = ["TERM", "SIGTERM", "term", "sigterm", "Term", "15", " 15 ", 15]
NOT_SIGNALS = ["", "TERMINATE", "SIG", "-15", "1.5", "\uff19", 0, 999, True, None, 1.0]


@pytest.mark.parametrize("written", WRITTEN)
def test_every_way_of_writing_a_signal_reads_as_its_number(written: str | int) -> None:
    assert signals.number(written) == signal.SIGTERM == 15


def test_an_alias_reads_as_the_signal_it_names() -> None:
    assert signals.number("IOT") == signal.SIGABRT
    assert signals.name(signals.number("IOT")) == "ABRT"


@pytest.mark.parametrize("wrong", NOT_SIGNALS)
def test_what_is_not_a_signal_is_a_clear_value_error(wrong: object) -> None:
    with pytest.raises(ValueError, match=r"signal"):
        signals.number(wrong)  # type: ignore[arg-type]


def test_the_error_says_what_it_got() -> None:
    with pytest.raises(ValueError, match=r"unknown signal 'TREM'"):
        signals.number("TREM")


def test_name_is_the_short_upper_case_name() -> None:
    assert signals.name(15) == "TERM"
    assert signals.name(signal.SIGKILL) == "KILL"
    with pytest.raises(ValueError):
        signals.name(999)


def test_names_are_every_signal_without_its_prefix() -> None:
    names = signals.names()
    assert {"HUP", "INT", "TERM", "KILL", "USR1"} <= set(names)
    assert not any(n.startswith("SIG") for n in names)


@given(st.sampled_from(list(signal.Signals)))
def test_name_and_number_go_back_and_forth(sig: signal.Signals) -> None:
    assert signals.number(signals.name(sig)) == sig
    assert signals.number(str(int(sig))) == sig


def test_importing_it_loads_neither_signal_nor_enum() -> None:
    """The CLI imports it: what it costs at import counts for every command."""
    code = (
        "import sys, procward.kit._signals; print('signal' in sys.modules, 'enum' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "False"]
