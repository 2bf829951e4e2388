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
        ax.annotate(f"{v:+.3f}  ({n:,} items)", (v, y), xytext=(4 if v >= 0 else -4, 0),
                    textcoords="offset points", va="center", ha="left" if v >= 0 else "right", fontsize=8)
    lo, hi = min(vals.min(), 0), max(vals.max(), 0)
    pad = 0.45 * (hi - lo)
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_xlabel("Change in expected clicks per slate if promoted (simulator's truth)")
    ax.set_ylabel("")
    fig.tight_layout()
    return fig


def plot_effect_waterfall(product: pd.DataFrame) -> Any:
    """Waterfall from the focal gain through the competitor changes to the net slate change.

    Bars are the randomized estimates per 1,000 promoted slates, whiskers their 95% intervals
    (drawn at each step's end), black diamonds the simulator's true values (when present).
    """
    p = product.set_index("key")
    steps = [("focal_gain", "Focal item\n(naive view)"), ("same_cluster_change", "Same-cluster\ncompetitors"),
             ("other_change", "Other\ncompetitors")]
    fig, ax = new_figure(height=3.8)
    start = 0.0
    start_oracle = 0.0
    has_oracle = p["oracle_value"].notna().all()
    for i, (key, label) in enumerate(steps):
        r = p.loc[key]
        v = float(r["value"])
        ax.bar(i, v, bottom=start, color=GAIN_COLOR if v >= 0 else LOSS_COLOR, width=0.6)
        end = start + v
        ax.errorbar(i, end, yerr=[[v - r["ci_95_lower"]], [r["ci_95_upper"] - v]], color="0.15", capsize=4, lw=1)
        ax.plot([i + 0.3, i + 0.7], [end, end], color="0.5", lw=0.8, ls=":")
        if has_oracle:
            start_oracle += float(r["oracle_value"])
            ax.plot(i, start_oracle, marker="D", color=ORACLE_COLOR, ms=5, ls="none",
                    label="true value (simulator)" if i == 0 else None)
        ax.annotate(f"{v:+,.0f}", (i, max(start, end)), xytext=(0, 4), textcoords="offset points",
                    ha="center", fontsize=8)
        start = end
    r = p.loc["total_change"]
    n = len(steps)
    tv = float(r["value"])
    ax.bar(n, tv, color=NET_COLOR, width=0.6)
    ax.errorbar(n, tv, yerr=[[tv - r["ci_95_lower"]], [r["ci_95_upper"] - tv]], color="0.15", capsize=4, lw=1)
    if has_oracle:
        ax.plot(n, float(r["oracle_value"]), marker="D", color=ORACLE_COLOR, ms=5, ls="none")
    ax.annotate(f"{tv:+,.0f}", (n, max(tv, 0)), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=8)
    ax.axhline(0, color="0.3", lw=0.8)
    ax.set_xticks(np.arange(n + 1), [label for _, label in steps] + ["Net slate\nchange"])
    ax.set_ylabel("Clicks per 1,000 promoted slates")
    if has_oracle:
        ax.legend(loc="best", frameon=False)
    fig.tight_layout()
    return fig


def plot_randomization_distribution(null_draws: np.ndarray, effects: pd.DataFrame,
                                    components: tuple[str, ...] = ("direct_focal", "total_slate")) -> Any:
    """Histograms of re-randomized differences in means with the observed estimate marked."""
    keys = list(effects["component"])
    fig, axes = new_figure(1, len(components), height=3.0)
    axes = np.atleast_1d(axes)
    for ax, comp in zip(axes, components, strict=True):
        j = keys.index(comp)
        ax.hist(1000 * null_draws[:, j], bins=40, color=PALETTE[5])
        ax.axvline(1000 * effects["estimate"].iloc[j], color=LOSS_COLOR, lw=1.5)
        ax.set_title(effects["label"].iloc[j])
        ax.set_xlabel("Clicks per 1,000 slates under the null")
    fig.tight_layout()
    return fig
