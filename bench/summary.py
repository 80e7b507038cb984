"""The run's summary: procward's median against the best peer's, row by row.

``summary_rows`` turns every ``Comparison`` of a run into a ``Row``;
``markdown`` renders the rows as the report's summary table, and ``speedups``
gives the chart (``bench.chart``) how many times better procward is than each peer.
Only medians are compared. A missing, zero or non-finite median never raises:
the ratio it would enter is left out (``None``, ``—``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from bench.measure import Summary
from bench.report import table
from bench.scenarios import Comparison

SUBJECT = "procward"
PEERS = ("supervisord", "circus", "pm2")
MISSING = "—"
AHEAD = "ahead"
BEHIND = "**behind**"
LEVEL = "level"  # equal medians: not ahead, but not behind either


@dataclass(frozen=True, slots=True)
class Row:
    """One comparison seen from ``subject``: its median against the best peer's."""

    what: str
    unit: str
    lower_is_better: bool
    subject: Summary | None
    peers: dict[str, Summary]  # every other system present, in the comparison's order
    best_peer: str | None  # the peer with the best (finite) median
    ratio: float | None  # subject median / best peer median
    ahead: bool | None  # subject's median strictly better than the best peer's

    @property
    def level(self) -> bool:
        """The subject's median equals the best peer's (so not ``ahead``)."""
        best = self.best_summary
        return (
            self.subject is not None
            and best is not None
            and _usable(self.subject)
            and self.subject.median == best.median
        )

    @property
    def best_summary(self) -> Summary | None:
        return None if self.best_peer is None else self.peers[self.best_peer]


def _usable(summary: Summary | None) -> bool:
    return summary is not None and math.isfinite(summary.median)


def _better(a: float, b: float, lower_is_better: bool) -> bool:
    """``a`` strictly better than ``b``."""
    return a < b if lower_is_better else a > b


def summary_rows(comparisons: Sequence[Comparison], subject: str = SUBJECT) -> list[Row]:
    """One ``Row`` per comparison, in order; the best peer is the one with the best median."""
    rows = []
    for comparison in comparisons:
        mine = comparison.values.get(subject)
        peers = {name: s for name, s in comparison.values.items() if name != subject}
        best: str | None = None
        for name, theirs in peers.items():
            if not _usable(theirs):
                continue
            if best is None or _better(
                theirs.median, peers[best].median, comparison.lower_is_better
            ):
                best = name
        ratio: float | None = None
        ahead: bool | None = None
        if best is not None and mine is not None and _usable(mine):
            peer_median = peers[best].median
            ratio = mine.median / peer_median if peer_median != 0 else None
            ahead = _better(mine.median, peer_median, comparison.lower_is_better)
        rows.append(
            Row(
                what=comparison.what,
                unit=comparison.unit,
                lower_is_better=comparison.lower_is_better,
                subject=mine,
                peers=peers,
                best_peer=best,
                ratio=ratio,
                ahead=ahead,
            )
        )
    return rows


def number(value: float) -> str:
    """``value`` with a precision fit for its size: 123, 12.3, 1.23, 0.123."""
    size = abs(value)
    if not math.isfinite(value):
        return str(value)
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    if size != 0 and size < 0.0005:  # would show as 0.000: keep two significant digits
        return f"{value:.2g}"
    return f"{value:.3f}"


def quantity(summary: Summary | None, unit: str) -> str:
    """A median with its unit (``19.5 ms``), or ``—`` without one."""
    if summary is None:
        return MISSING
    return f"{number(summary.median)} {unit}" if unit else number(summary.median)


def times(ratio: float | None) -> str:
    """A ratio as ``0.12x``, ``1.04x``, ``12.3x``, or ``—``."""
    if ratio is None or not math.isfinite(ratio):
        return MISSING
    if abs(ratio) >= 100:
        return f"{ratio:.0f}x"
    if abs(ratio) >= 10:
        return f"{ratio:.1f}x"
    if ratio != 0 and abs(ratio) < 0.005:
        return f"{ratio:.1g}x"
    return f"{ratio:.2f}x"


def verdict(row: Row) -> str:
    if row.ahead is None:
        return MISSING
    if row.ahead:
        return AHEAD
    return LEVEL if row.level else BEHIND


def _versus(row: Row) -> str:
    """How far behind a row is: its ratio, or both medians when there is no ratio."""
    if row.ratio is not None:
        return times(row.ratio)
    return f"{quantity(row.subject, row.unit)} vs {quantity(row.best_summary, row.unit)}"


def markdown(
    rows: Sequence[Row],
    peers_order: Sequence[str] = PEERS,
    *,
    subject: str = SUBJECT,
) -> list[str]:
    """The summary section: a table of medians, the ratio to the best peer, a verdict."""
    lines = [f"## Summary: {subject} against the best peer", ""]
    headers = ["what", subject, *peers_order, "best peer", f"{subject} / best", "verdict"]
    body = [
        [
            row.what,
            quantity(row.subject, row.unit),
            *(quantity(row.peers.get(peer), row.unit) for peer in peers_order),
            row.best_peer or MISSING,
            times(row.ratio),
            verdict(row),
        ]
        for row in rows
    ]
    lines += [*table(headers, body), ""]
    lines.append(
        f"- Medians of this run. `{subject} / best` is {subject}'s median over the best peer's:"
        " below 1 is better where lower is better (times, memory, CPU),"
        " above 1 where higher is better (throughput)."
    )
    lines.append(f"- {_tally(rows, subject)}")
    return lines


def _tally(rows: Sequence[Row], subject: str) -> str:
    compared = [row for row in rows if row.ahead is not None]
    ahead = sum(bool(row.ahead) for row in compared)
    text = f"{subject} ahead of the best peer on {ahead} of {len(compared)} rows"
    level = [row.what for row in compared if not row.ahead and row.level]
    behind = [f"{row.what} ({_versus(row)})" for row in compared if not row.ahead and not row.level]
    if level:
        text += "; level on: " + "; ".join(level)
    if behind:
        text += "; behind on: " + "; ".join(behind)
    if len(compared) < len(rows):
        text += f"; {len(rows) - len(compared)} rows without a peer to compare"
    return text + "."


def speedups(rows: Sequence[Row]) -> list[tuple[str, dict[str, float]]]:
    """Per row, per peer: how many times better the subject is (> 1 = the subject is better).

    Peer median over the subject's where lower is better, the inverse where higher
    is better. Pairs with a missing, zero or non-finite median are left out, and so
    are rows left with no pair.
    """
    result = []
    for row in rows:
        if row.subject is None or not _positive(row.subject.median):
            continue
        mine = row.subject.median
        factors = {
            name: theirs.median / mine if row.lower_is_better else mine / theirs.median
            for name, theirs in row.peers.items()
            if _positive(theirs.median)
        }
        if factors:
            result.append((row.what, factors))
    return result


def _positive(value: float) -> bool:
    # Only positive medians: the chart's axis is logarithmic.
    return math.isfinite(value) and value > 0
