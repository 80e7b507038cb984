"""``procward.kit._client`` without a daemon (the calls themselves: test_daemon.py)."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from procward.kit._client import _timeval


@given(st.floats(min_value=0, max_value=2**31 - 1, allow_nan=False))
def test_a_timeval_is_what_struct_packs(seconds: float) -> None:
    """The socket timeouts' ``struct timeval``, made without ``_struct`` (issue 18)."""
    assert _timeval(seconds) == struct.pack("ll", int(seconds), int(seconds % 1 * 1e6))
