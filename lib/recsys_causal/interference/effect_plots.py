"""Figures of the promotion experiment: where the clicks move, and the focal-to-net waterfall."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from recsys_causal.style import ORACLE_COLOR, PALETTE, new_figure

GAIN_COLOR = PALETTE[2]
LOSS_COLOR = PALETTE[3]
NET_COLOR = PALETTE[0]


def plot_item_lift_by_exposure(table: pd.DataFrame) -> Any:
    """Horizontal bars: expected-click change per slate by exposure group (oracle, all slates).

    `table` is `exposure.item_lift_by_exposure(...)`.
    """
    fig, ax = new_figure(height=3.2)
    t = table.iloc[::-1]
    vals = t["lift_per_slate"].to_numpy(dtype=float)
    colors = [GAIN_COLOR if v >= 0 else LOSS_COLOR for v in vals]
    ax.barh(t["group"], vals, color=colors)
    ax.axvline(0, color="0.3", lw=0.8)
    for y, (v, n) in enumerate(zip(vals, t["items"], strict=True)):
        ax.annotate(f"{v:+.3f}  ({n:,} items)", (max(v, 0.0), y), xytext=(4, 0),
                    textcoords="offset points", va="center", ha="left", fontsize=8)
    lo, hi = min(vals.min(), 0), max(vals.max(), 0)
    pad = 0.05 * (hi - lo)
    ax.set_xlim(lo - pad, hi + 0.8 * (hi - lo))
    ax.set_xlabel("Difference in outcome per slate, promoted - control (randomized estimate)" if "basis" in table
                  else "Change in expected clicks per slate if promoted (simulator's truth)")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def plot_effect_waterfall(product: pd.DataFrame) -> Any:
    """Waterfall from the focal gain through the competitor changes to the net slate change.

    Bars are the randomized estimates per 1,000 promoted slates, whiskers their 95% intervals
    (drawn at each step's end); black diamonds are each step's true value (when present), placed
    on the same base as its bar, so whisker and diamond compare the step itself.
    """
    p = product.set_index("key")
    steps = [("focal_gain", "Focal item\n(naive view)"), ("same_cluster_change", "Same-cluster\ncompetitors"),
             ("other_change", "Other\ncompetitors")]
    fig, ax = new_figure(height=3.8)
    has_oracle = "oracle_value" in p and bool(p["oracle_value"].notna().all())
    start = 0.0
    for i, (key, _) in enumerate([*steps, ("total_change", "net")]):
        r = p.loc[key]
        v, lo, hi = float(r["value"]), float(r["ci_95_lower"]), float(r["ci_95_upper"])
        net = key == "total_change"
        base = 0.0 if net else start
        color = NET_COLOR if net else (GAIN_COLOR if v >= 0 else LOSS_COLOR)
        ax.bar(i, v, bottom=base, color=color, width=0.6)
        ax.errorbar(i, base + v, yerr=[[v - lo], [hi - v]], color="0.15", capsize=4, lw=1)
        if has_oracle:
            ax.plot(i, base + float(r["oracle_value"]), marker="D", color=ORACLE_COLOR, ms=5, ls="none",
                    label="true value (simulator)" if i == 0 else None)
        ax.annotate(f"{v:+,.0f}", (i + 0.31, base + v), xytext=(2, 0), textcoords="offset points",
                    ha="left", va="center", fontsize=8)
        if not net:
            ax.plot([i + 0.3, i + 0.7], [base + v, base + v], color="0.5", lw=0.8, ls=":")
            start = base + v
    n = len(steps)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(np.arange(n + 1), [label for _, label in steps] + ["Net slate\nchange"])
    ax.set_ylabel("Clicks per 1,000 promoted slates")
    if has_oracle:
        ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig

