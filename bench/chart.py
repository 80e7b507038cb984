"""The run's chart: how many times better procward is than each peer, row by row.

One group of horizontal bars per summary row, one bar per peer, on a log axis
whose 1 is "same as procward": a bar reaching right means procward is ahead of
that peer, left means behind. matplotlib is optional (``pip install '.[bench]'``)
and imported only here, only when a chart is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bench import summary

NO_MATPLOTLIB = "matplotlib is not installed: no chart (pip install '.[bench]')"
NO_PAIRS = "no row has both procward and a peer with a positive median: no chart"
COLOURS = {"supervisord": "#4c72b0", "circus": "#dd8452", "pm2": "#55a868"}
OTHER_COLOUR = "#8c8c8c"
XLABEL = "times better than the peer (procward's median vs the peer's; > 1 = procward ahead)"
WIDTH_IN = 12.7  # 1400 px at 110 dpi
DPI = 110


def label(factor: float) -> str:
    """A bar's annotation: ``52x``, ``5.2x``, ``0.95x``."""
    if factor >= 10:
        return f"{factor:.0f}x"
    if factor >= 1:
        return f"{factor:.1f}x"
    return f"{factor:.2g}x" if factor < 0.01 else f"{factor:.2f}x"


def _peer_order(groups: Sequence[tuple[str, dict[str, float]]]) -> list[str]:
    present = {name for _, factors in groups for name in factors}
    known = [name for name in COLOURS if name in present]
    return known + sorted(present - set(known))


def render(rows: Sequence[summary.Row], path: Path, title: str, subtitle: str) -> str | None:
    """Draw the chart of ``rows`` into the PNG ``path``.

    Returns ``None`` once written, or why no chart was drawn (matplotlib missing,
    nothing to compare) for the report's warnings.
    """
    try:
        import matplotlib
    except ImportError:
        return NO_MATPLOTLIB
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    groups = summary.speedups(rows)
    if not groups:
        return NO_PAIRS
    peers = _peer_order(groups)
    slot = 0.8 / len(peers)  # the height of one bar; a group spans 0.8 of a unit
    factors = [f for _, by_peer in groups for f in by_peer.values()]
    low, high = min(*factors, 1.0), max(*factors, 1.0)

    height = 2.2 + 0.3 * len(peers) * len(groups)
    fig, ax = plt.subplots(figsize=(WIDTH_IN, height), layout="constrained")
    try:
        ax.set_xscale("log")
        ax.axvline(1.0, color="black", linewidth=1.2, label="same as procward", zorder=3)
        for i, peer in enumerate(peers):
            ys = []
            values = []
            for g, (_, by_peer) in enumerate(groups):
                if peer in by_peer:
                    ys.append(g - 0.4 + slot * (i + 0.5))
                    values.append(by_peer[peer])
            # From 1 to the factor, so bars grow away from "same as procward" either way.
            ax.barh(
                ys,
                [v - 1.0 for v in values],
                left=1.0,
                height=slot * 0.9,
                color=COLOURS.get(peer, OTHER_COLOUR),
                label=peer,
                zorder=2,
            )
            for y, v in zip(ys, values, strict=True):
                ahead = v >= 1.0
                ax.annotate(
                    label(v),
                    (v, y),
                    xytext=(4 if ahead else -4, 0),
                    textcoords="offset points",
                    ha="left" if ahead else "right",
                    va="center",
                    fontsize=8,
                )
        # The rows are Markdown (`ping`); a chart shows them as plain text.
        ax.set_yticks(range(len(groups)), [what.replace("`", "") for what, _ in groups])
        ax.set_ylim(len(groups) - 0.5, -0.5)  # the first row on top
        ax.set_xlim(low / 1.8, high * 2.2)  # room for the annotations
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}x"))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(axis="x", which="major", color="#dddddd", zorder=0)
        ax.set_xlabel(XLABEL)
        ax.text(
            1.0,
            1.0,
            "same as procward",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=8,
        )
        fig.legend(loc="outside lower center", ncol=len(peers) + 1, fontsize=9, frameon=False)
        ax.set_title(subtitle, fontsize=9, color="#555555", pad=14)
        fig.suptitle(title, fontsize=13)
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return None
