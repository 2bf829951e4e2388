"""The executive summary's figures: one forest plot per track, drawn at render time from artifacts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from recsys_causal.style import ORACLE_COLOR, PALETTE, PALETTE_NAMES, new_figure

PRIMARY_COLOR = PALETTE[0]
OTHER_COLOR = PALETTE[7]
TRUTH_MARK_COLOR = PALETTE[3]  # per-row truth crosses (a single truth is the oracle's dashed line)


def plot_forest(labels: Sequence[str], estimate: Sequence[float], lower: Sequence[float],
                upper: Sequence[float], truth: float | Sequence[float] | None = None,
                xlabel: str = "", primary: int | None = 0):
    """Estimates with 95% intervals, top to bottom in the given order; the `primary` row in
    colour, the others in black; the truth as a dashed line (one value) or crosses (one per row)."""
    est, lo, hi = (np.asarray(v, dtype=float) for v in (estimate, lower, upper))
    n = len(est)
    fig, ax = new_figure(height=1.0 + 0.5 * n)
    y = np.arange(n)[::-1]
    for i in range(n):
        color = PRIMARY_COLOR if i == primary else OTHER_COLOR
        ax.errorbar(est[i], y[i], xerr=[[max(est[i] - lo[i], 0.0)], [max(hi[i] - est[i], 0.0)]],
                    fmt="o", color=color, ecolor=color, capsize=4, markersize=6 if i == primary else 4)
    ax.axvline(0, color="grey", linewidth=1)
    if truth is not None:
        t = np.asarray(truth, dtype=float)
        if t.ndim == 0:
            ax.axvline(float(t), color=ORACLE_COLOR, linestyle="--", linewidth=1.3, label="truth (simulator)")
        else:
            ax.scatter(t, y, marker="x", color=TRUTH_MARK_COLOR, zorder=3, label="truth (simulator)")
        ax.legend(loc="best", fontsize=8)
    ax.set_yticks(y)
    ax.set_yticklabels(list(labels))
    ax.set_xlabel(xlabel)
    return fig


def save_png(fig, path: Path) -> Path:
    """Write the figure as a PNG (atomically) and close it."""
    import io

    import matplotlib.pyplot as plt

    from recsys_causal.artifacts import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return atomic_write_bytes(Path(path), buf.getvalue())


def primary_caption() -> str:
    """The words for the primary row's colour, from the style's palette names."""
    return PALETTE_NAMES[PRIMARY_COLOR]


def truth_mark_caption() -> str:
    """The words for the per-row truth crosses' colour."""
    return PALETTE_NAMES[TRUTH_MARK_COLOR]
